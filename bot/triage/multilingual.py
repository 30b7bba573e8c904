"""What can still be read in a post written in a language triage was not trained on.

The model only knows English.  For the other languages the detector knows,
a few hand-written cue lists say whether a post names a failure or a
grievance (complaint), asks something (question), thanks the brand (praise),
or mentions legal, safety or data-breach trouble (urgent).  They are words a
support agent would spot, not a model: they raise priority and pick the
category, and a post with no cue is still carried to a person (a card marked
"triage not trained on this language").  Matching is case-insensitive and
by word start, so "reembols" catches "reembolso" and "reembolsar".
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _starts(*stems: str) -> re.Pattern[str]:
    """Words starting with any stem (Latin and Cyrillic scripts)."""
    return re.compile(r"(?<!\w)(?:" + "|".join(stems) + r")", re.I)


def _any(*parts: str) -> re.Pattern[str]:
    """Substrings (scripts written without spaces)."""
    return re.compile("|".join(parts))


@dataclass(frozen=True)
class Cues:
    complaint: re.Pattern[str]  # a failure or a grievance: a complaint, asked as a question or not
    praise: re.Pattern[str]
    legal: re.Pattern[str]
    safety: re.Pattern[str]
    breach: re.Pattern[str]
    money: re.Pattern[str] = re.compile(r"(?!x)x")  # refunds, returns, charges: a complaint unless asked about


CUES: dict[str, Cues] = {
    "es": Cues(
        complaint=_starts("dos veces", r"nunca lleg", r"no (?:ha |me )?lleg", r"no funciona", r"no sirve", "sigo esperando", "todav[ií]a (?:no|espero|nada)",
                          "mi dinero", "p[ée]sim", "horrible", "terrible", "fatal", "vergüenza", "verguenza",
                          "inaceptable", "estafa", "timo", "ladrones", "roto", "rota ", "da[ñn]ad", "ca[íi]d", "queja", "reclam",
                          "decepcion", "harto", "harta", "nadie (?:responde|contesta|me)", "sin respuesta", "sin servicio", "otra vez",
                          "peor", "no puedo", "retras", "perdid", "basura", "nefast", "lament"),
        praise=_starts("gracias", "genial", "excelente", "incre[íi]ble", "me encanta", "encantad", "maravill", "perfect", "buen[ao]? (?:servicio|trabajo|atenci)",
                       "felicidades", "enhorabuena", "mil gracias", "fant[áa]stic"),
        legal=_starts("abogad", "demandar", "demanda judicial", "denunci", "juzgado", "tribunal", "legal"),
        safety=_starts("peligro", "incendi", "fuego", "quemad", "explot", "herid", "intoxic", "alergi", "hospital", "humo"),
        breach=_starts("fraude", "hacke", "robo de datos", "mis datos", "no autoriz", "suplant"),
        money=_starts("reembols", "devuelv", "devoluci", "cobr", "cancel"),
    ),
    "pt": Cues(
        complaint=_starts("duas vezes", r"nunca cheg", r"n[ãa]o cheg", r"n[ãa]o funciona", "ainda (?:n[ãa]o|esperando|estou esperando|aguard)", "continuo esperando",
                          "meu dinheiro", "p[ée]ssim", "horr[íi]vel", "terr[íi]vel", "vergonha", "inaceit",
                          "golpe", "fraude", "quebrad", "danificad", "reclama", "decepcion", "ningu[ée]m (?:responde|atende)",
                          "sem resposta", "sem servi", "de novo", "outra vez", "pior", "n[ãa]o consigo", "atras", "perdid", "lixo",
                          "absurd", "descaso"),
        praise=_starts("obrigad", "[óo]tim", "excelente", "incr[íi]vel", "adorei", "amei", "maravilh", "perfeit", "parab[ée]ns", "fant[áa]stic",
                       "bom atendimento", "muito bom"),
        legal=_starts("advogad", "processar", "vou processar", "a[çc][ãa]o judicial", "procon", "justi[çc]a", "tribunal", "jur[íi]dic"),
        safety=_starts("perig", "inc[êe]ndi", "fogo", "queim", "explod", "ferid", "intoxic", "alergi", "hospital", "fuma[çc]a"),
        breach=_starts("vazamento", "hacke", "meus dados", "n[ãa]o autoriz", "clonad"),
        money=_starts("reembols", "estorn", "devolu", "cobra", "cancel"),
    ),
    "de": Cues(
        complaint=_starts("doppelt", "nie angekommen", "nicht angekommen", "immer noch", "noch immer", "warte seit", "warten seit", "funktioniert nicht",
                          "geht nicht", "kaputt", "defekt", "besch[äa]digt", "mein geld",
                          "schlecht", "schlimm", "furchtbar", "schrecklich", "katastroph", "unversch[äa]mt", "frechheit", "inakzeptabel",
                          "unm[öo]glich", "betrug", "abzocke", "entt[äa]usch", "[äa]rgerlich", "beschwerde", "reklamation", "keine antwort",
                          "niemand (?:antwortet|meldet|reagiert)", "schon wieder", "st[öo]rung", "ausfall", "versp[äa]t", "verloren", "doppelt (?:abgebucht|berechnet)", "abgebucht", "mist", "saftladen", "nie wieder", "sauer"),
        praise=_starts("danke", "vielen dank", "super", "toll", "klasse", "spitze", "ausgezeichnet", "hervorragend", "perfekt", "wunderbar",
                       "gro[ßs]artig", "freundlich", "lob", "top service"),
        legal=_starts("anwalt", "anw[äa]lt", "klage", "verklag", "gericht", "verbraucherzentrale", "rechtlich", "abmahn"),
        safety=_starts("gef[äa]hrlich", "gefahr", "brand", "feuer", "verbrannt", "explod", "verletz", "vergift", "allergi", "krankenhaus", "rauch"),
        breach=_starts("datenleck", "datenschutz", "gehackt", "betr[üu]ger", "unbefugt", "meine daten"),
        money=_starts("erstattung", "r[üu]ckerstatt", "geld zur[üu]ck", "storn", "k[üu]ndig"),
    ),
    "fr": Cues(
        complaint=_starts("deux fois", "jamais re[çc]u", "pas re[çc]u", "toujours (?:pas|rien|en attente)", "j'attends", "j’attends", "attends depuis",
                          "ne fonctionne pas", "marche pas", "ne marche", "en panne", "panne", "cass[ée]", "d[ée]fectueu", "endommag", "abîm",
                          "mon argent", "nul", "nulle", "honteu", "honte", "inadmissible", "inacceptable", "scandal", "arnaque",
                          "escroc", "d[ée]çu", "d[ée]cevant", "d[ée]ception", "plainte", "r[ée]clamation", "aucune r[ée]ponse", "personne ne",
                          "encore une fois", "pire", "lamentable", "catastroph", "en retard", "retard", "perdu", "d[ée]bit[ée] deux", "ras le bol", "marre", "furieu"),
        praise=_starts("merci", "g[ée]nial", "excellent", "super", "parfait", "bravo", "formidable", "magnifique", "top", "au top",
                       "incroyable", "ador", "f[ée]licitations"),
        legal=_starts("avocat", "plainte (?:contre|au)", "tribunal", "justice", "juridique", "poursuiv", "ufc", "que choisir"),
        safety=_starts("dangereu", "danger", "incendi", "pris feu", "en feu", "br[ûu]l", "explos", "bless", "intoxic", "allergi", "h[ôo]pital", "fum[ée]e"),
        breach=_starts("fuite de donn", "pirat", "fraude", "mes donn[ée]es", "non autoris", "usurp"),
        money=_starts("rembours", "annul", "factur", "pr[ée]lev"),
    ),
    "it": Cues(
        complaint=_starts("due volte", "doppio", "mai arrivat", "non [èe] arrivat", "non (?:mi )?[èe] ancora", "ancora (?:niente|nulla|non|in attesa)", "aspetto da",
                          "non funziona", "rott", "difettos", "danneggiat", "i miei soldi", "pessim", "orribil", "terribil",
                          "vergogn", "inaccettabil", "truffa", "trufat", "delus", "reclam", "lamentel", "nessuna risposta", "nessuno risponde",
                          "di nuovo", "ancora una volta", "peggio", "peggior", "schifo", "disservizio", "in ritardo", "ritard", "perso il", "persa la", "smarrit", "assurdo", "vergognoso"),
        praise=_starts("grazie", "ottimo", "ottima", "eccellente", "fantastic", "perfett", "bravi", "complimenti", "meraviglios", "stupend",
                       "gentilissim", "adoro"),
        legal=_starts("avvocat", "denunc", "tribunale", "causa legale", "legale", "giudice", "codacons", "altroconsumo"),
        safety=_starts("pericolos", "pericolo", "incendi", "fuoco", "bruciat", "esplo", "ferit", "intossic", "allergi", "ospedale", "fumo"),
        breach=_starts("furto di dati", "i miei dati", "hacker", "frode", "non autorizzat", "violazione"),
        money=_starts("rimbors", "cancellat", "annullat", "addebit"),
    ),
    "nl": Cues(
        complaint=_starts("dubbel", "nooit aangekomen", "niet aangekomen", "nog steeds", "nog altijd", "wacht al", "werkt niet", "doet het niet", "kapot",
                          "defect", "beschadigd", "mijn geld", "slecht", "verschrikkelijk", "vreselijk",
                          "belachelijk", "schandalig", "onacceptabel", "oplichting", "oplichters", "teleurgesteld", "teleurstell", "klacht",
                          "geen antwoord", "geen reactie", "niemand reageert", "alweer", "weer eens", "storing", "vertraag", "te laat",
                          "kwijt", "verloren", "dubbel afgeschreven", "waardeloos", "nooit meer"),
        praise=_starts("bedankt", "dank je", "dank u", "dankjewel", "super", "geweldig", "top", "perfect", "fantastisch", "uitstekend",
                       "heel fijn", "blij", "compliment", "goed geholpen"),
        legal=_starts("advocaat", "rechter", "rechtszaak", "aanklagen", "juridisch", "consumentenbond", "geschillencommissie"),
        safety=_starts("gevaarlijk", "gevaar", "brand", "vuur", "verbrand", "explod", "gewond", "vergiftig", "allergi", "ziekenhuis", "rook"),
        breach=_starts("datalek", "gehackt", "fraude", "mijn gegevens", "onbevoegd"),
        money=_starts("terugbetal", "geld terug", "geannuleerd", "afgeschreven"),
    ),
    "tr": Cues(
        complaint=_starts("iki kez", "gelmedi", "ula[şs]mad", "h[âa]l[âa]", "hala", "bekliyorum", "çal[ıi]şm[ıi]yor", "bozuk", "bozul", "hasarl[ıi]",
                          "param", "rezalet", "berbat", "korkunç", "kabul edilemez", "doland[ıi]r", "[şs]ikayet", "yan[ıi]t yok",
                          "cevap (?:yok|vermiyor)", "kimse", "yine", "tekrar", "gecik", "kayboldu", "kay[ıi]p", "iki kez çekildi",
                          "yaz[ıi]k", "hayal k[ıi]r[ıi]kl", "sinir", "sayg[ıi]s[ıi]zl[ıi]k", "ma[ğg]dur"),
        praise=_starts("te[şs]ekkür", "sa[ğg] ?ol", "harika", "mükemmel", "süper", "çok iyi", "bayıld", "bay[ıi]ld", "tebrik", "muhte[şs]em"),
        legal=_starts("avukat", "dava", "mahkeme", "tüketici hakem", "savc[ıi]", "hukuk"),
        safety=_starts("tehlike", "yang[ıi]n", "ate[şs]", "yand[ıi]", "patlad", "yaral", "zehirlen", "alerji", "hastane", "duman"),
        breach=_starts("veri s[ıi]z", "hack", "doland[ıi]r[ıi]c[ıi]", "verilerim", "izinsiz"),
        money=_starts("iade", "iptal", "çekildi"),
    ),
    "pl": Cues(
        complaint=_starts("dwa razy", "nie dotar", "nie przysz", "nadal (?:nie|czekam|nic)", "wci[ąa][żz] (?:nie|czekam)", "czekam od", "nie dzia[łl]a",
                          "zepsut", "uszkodz", "wadliw", "moje pieni", "fataln", "okropn", "beznadziej", "skandal", "wstyd",
                          "niedopuszczaln", "oszust", "oszukan", "rozczarow", "reklamac", "skarg", "brak odpowiedzi", "nikt nie odpowiada",
                          "znowu", "znów", "awari", "op[óo][źz]nien", "sp[óo][źz]ni", "zgubi", "pobrali dwa", "nie polecam",
                          "dramat", "porażk", "porazk", "masakra", "żenad", "zenad"),
        praise=_starts("dzi[ęe]kuj", "dzi[ęe]ki", "super", "świetn", "swietn", "wspania[łl]", "doskona[łl]", "polecam", "brawo", "rewelac",
                       "idealn"),
        legal=_starts("prawnik", "pozew", "pozw", "do s[ąa]du", "w s[ąa]dzie", "rzecznik konsument", "uokik", "prawn"),
        safety=_starts("niebezpiecz", "po[żz]ar", "ogie[ńn]", "poparzy", "wybuch", "eksplod", "rann", "zatru", "alergi", "szpital", "dym"),
        breach=_starts("wyciek danych", "zhakowa", "oszustw", "moje dane", "nieautoryzowan", "bez zgody"),
        money=_starts("zwrot", "anulowa"),
    ),
    "sv": Cues(
        complaint=_starts("aldrig kommit", "inte kommit", "fortfarande", "v[äa]ntar", "fungerar inte", "trasig", "skadad", "återbetal",
                          "pengarna tillbaka", "d[åa]lig", "hemsk", "bedr[öo]vlig", "oacceptabel", "skandal", "bedrägeri", "besviken",
                          "klagomål", "inget svar", "ingen svarar", "igen", "f[öo]rsen", "inst[äa]ll", "borttappad", "f[öo]rlorad"),
        praise=_starts("tack", "toppen", "grym", "perfekt", "fantastisk", "j[äa]ttebra", "underbar", "bra jobbat"),
        legal=_starts("advokat", "st[äa]mma", "domstol", "arn\\b", "konsumentverket", "juridisk"),
        safety=_starts("farlig", "brand", "eld", "br[äa]nd", "exploder", "skadad person", "f[öo]rgift", "allergi", "sjukhus", "r[öo]k"),
        breach=_starts("dataläcka", "hackad", "bedrägeri", "mina uppgifter", "obehörig"),
    ),
    "ru": Cues(
        complaint=_starts("дважды", "не пришл", "не пришел", "не пришёл", "не доставл", "до сих пор", "всё ещё", "все еще", "жду уже", "жду ",
                          "не работает", "сломал", "слом", "брак", "поврежд", "верните", "мои деньги", "ужасн", "отвратительн",
                          "кошмар", "безобраз", "позор", "недопустим", "обман", "мошенн", "разочаров", "жалоб", "претензи", "нет ответа",
                          "никто не отвечает", "опять", "снова", "задерж", "опозд", "потерял", "списали дважды", 
                          "хуже", "худш", "безобразие", "отстой"),
        praise=_starts("спасибо", "благодар", "отлично", "супер", "замечательн", "прекрасн", "класс", "молодц", "лучш(?:ий|ая|ие) сервис"),
        legal=_starts("адвокат", "юрист", "в суд", "суде", "судом", "исков", "роспотребнадзор", "прокуратур", "полици"),
        safety=_starts("опасн", "пожар", "огонь", "загорел", "ожог", "взорвал", "взрыв", "травм", "отравлен", "аллерги", "больниц", "дым"),
        breach=_starts("утечк", "взлом", "мошенничеств", "мои данные", "без моего согласия"),
        money=_starts("возврат", "отмен", "списали"),
    ),
    "ja": Cues(
        complaint=_any("届かない", "届いていない", "届きません", "まだ", "待って", "動かない", "使えない", "壊れ", "故障", "不良", "最悪", "ひどい", "酷い", "ありえない", "あり得ない", "許せない", "詐欺", "がっかり", "残念", "苦情", "返事がない",
                       "返信がない", "連絡がない", "また", "障害", "遅延", "遅れ", "紛失", "二重請求", "不具合", "対応が悪い"),
        praise=_any("ありがとう", "有難う", "感謝", "素晴らしい", "最高", "助かりました", "嬉しい", "うれしい", "良かった", "丁寧"),
        legal=_any("弁護士", "訴え", "訴訟", "裁判", "消費者センター", "消費生活センター", "法的"),
        safety=_any("危険", "火事", "発火", "燃え", "火傷", "やけど", "爆発", "怪我", "けが", "中毒", "アレルギー", "病院", "煙"),
        breach=_any("情報漏洩", "漏えい", "漏洩", "不正アクセス", "乗っ取", "不正利用", "個人情報"),
        money=_any("返金", "返品", "キャンセル", "請求"),
    ),
    "ko": Cues(
        complaint=_any("안 왔", "안왔", "도착하지 않", "아직", "기다리", "작동하지 않", "안 돼", "안돼", "고장", "불량", "파손", "최악", "끔찍", "말이 안", "어이없", "사기", "실망", "불만", "답변이 없", "답이 없", "연락이 없", "또 ", "장애", "지연",
                       "분실", "이중 결제", "두 번 결제", "오류"),
        praise=_any("감사", "고맙", "최고", "훌륭", "좋아요", "친절", "만족", "덕분에"),
        legal=_any("변호사", "소송", "고소", "법원", "소비자원", "법적"),
        safety=_any("위험", "화재", "불이", "화상", "폭발", "다쳤", "부상", "중독", "알레르기", "병원", "연기"),
        breach=_any("정보 유출", "개인정보", "해킹", "도용", "무단"),
        money=_any("환불", "반품", "취소", "결제"),
    ),
    "zh": Cues(
        complaint=_any("没收到", "沒收到", "还没", "還沒", "等了", "不能用", "坏了", "壞了", "故障", "最差", "太差", "垃圾",
                       "骗", "騙", "失望", "投诉", "投訴", "没人回复", "沒人回覆", "延误", "延誤", "丢失", "遺失", "重复扣款"),
        praise=_any("谢谢", "謝謝", "感谢", "感謝", "太棒", "很好", "满意", "滿意", "赞", "讚"),
        legal=_any("律师", "律師", "起诉", "起訴", "法院", "消协", "消保"),
        safety=_any("危险", "危險", "着火", "著火", "起火", "烧伤", "燒傷", "爆炸", "受伤", "受傷", "中毒", "过敏", "過敏", "医院", "醫院"),
        breach=_any("泄露", "洩露", "被盗", "被盜", "盗刷", "盜刷", "个人信息", "個人資料"),
        money=_any("退款", "退货", "退貨", "取消", "扣款"),
    ),
    "ar": Cues(
        complaint=_any("لم يصل", "ما وصل", "لا يزال", "ما زلت", "انتظر", "لا يعمل", "معطل", "مكسور", "استرداد", "استرجاع", "فلوسي", "سيء", "سيئ",
                       "أسوأ", "اسوأ", "فضيحة", "نصب", "احتيال", "خيبة", "شكوى", "لا رد", "لا أحد يرد", "مرة أخرى", "تأخير", "إلغاء", "مفقود"),
        praise=_any("شكرا", "شكراً", "ممتاز", "رائع", "أحسنتم", "جميل"),
        legal=_any("محامي", "محكمة", "قضية", "دعوى", "حماية المستهلك"),
        safety=_any("خطير", "حريق", "نار", "حروق", "انفجار", "إصابة", "تسمم", "حساسية", "مستشفى"),
        breach=_any("تسريب", "اختراق", "بياناتي", "غير مصرح"),
    ),
    "hi": Cues(
        complaint=_any("नहीं आया", "नहीं पहुंचा", "अभी तक", "इंतजार", "काम नहीं", "खराब", "टूटा", "रिफंड", "पैसे वापस", "बकवास", "घटिया", "धोखा",
                       "निराश", "शिकायत", "कोई जवाब नहीं", "फिर से", "देरी", "रद्द"),
        praise=_any("धन्यवाद", "शुक्रिया", "बहुत अच्छा", "शानदार", "बढ़िया"),
        legal=_any("वकील", "अदालत", "मुकदमा", "उपभोक्ता फोरम", "कानूनी"),
        safety=_any("खतरनाक", "आग", "जल गया", "विस्फोट", "चोट", "जहर", "एलर्जी", "अस्पताल"),
        breach=_any("डेटा लीक", "हैक", "धोखाधड़ी", "मेरी जानकारी"),
    ),
}

#: Question marks of every script (Spanish opening, full-width, Arabic).
QUESTION = re.compile(r"[?¿？؟]")


def cues(language: str) -> Cues | None:
    return CUES.get(language)


def names_complaint(text: str, language: str) -> bool:
    """A failure or grievance; money words ("refund") only when not asked about."""
    c = CUES.get(language)
    if c is None:
        return False
    return bool(c.complaint.search(text) or (c.money.search(text) and not QUESTION.search(text)))


def names_praise(text: str, language: str) -> bool:
    c = CUES.get(language)
    return bool(c and c.praise.search(text))


def risk_terms(text: str, language: str) -> list[str]:
    """Urgent-level terms ("legal", "safety", "data breach") named in the post's own language."""
    c = CUES.get(language)
    if c is None:
        return []
    return [name for name, rx in (("legal", c.legal), ("safety", c.safety), ("data breach", c.breach)) if rx.search(text)]
