"""Code keywords: the words that name a one-time code, and the words that cancel them."""

from __future__ import annotations

# Matched as substrings of lower-cased text, so inflections ("подтверждения",
# "verifizierungscode") are covered by their stems; those made of ASCII letters only as whole
# words ("pin" is not in "shipping").
CODE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "verification code", "security code", "login code", "log-in code", "sign-in code",
        "sign in code", "signin code", "one-time", "one time", "passcode", "otp", "2fa",
        "two-factor", "two factor", "authentication code", "confirmation code", "access code",
        "pin", "code", "token", "verify", "verification",
    ),
    "de": (
        "bestätigungscode", "sicherheitscode", "verifizierungscode", "anmeldecode",
        "aktivierungscode", "zugangscode", "freischaltcode", "einmalcode", "einmalpasswort",
        "einmal-passwort", "bestätigung", "code",
    ),
    "fr": ("code de vérification", "code de confirmation", "code de sécurité", "vérification"),
    "es": ("código", "codigo", "verificación"),
    "pt": ("código", "codigo", "verificação"),
    "it": ("codice", "verifica"),
    "ca": ("codi", "verificació"),
    "nl": (
        "verificatiecode", "bevestigingscode", "inlogcode", "herstelcode", "resetcode",
        "beveiligingscode", "toegangscode", "code",
    ),
    "sv": ("verifieringskod", "engångskod", "kod"),
    "da": ("kode", "bekræftelseskode", "engangskode"),
    "no": ("kode", "engangskode"),
    "fi": ("koodi", "kertakäyttökoodi"),
    "et": ("kood",),
    "pl": ("kod", "weryfikac"),
    "cs": ("kód", "ověřovací"),
    "sk": ("kód", "overovací"),
    "hu": ("kód", "ellenőrző"),
    "ro": ("cod", "verificare"),
    "hr": ("kod", "kôd"),
    "sl": ("koda",),
    "lt": ("kod",),
    "lv": ("kod",),
    "tr": ("kod", "doğrulama", "dogrulama"),
    "az": ("kod", "təsdiq"),
    "id": ("kode", "verifikasi"),
    "ms": ("kod", "pengesahan"),
    "tl": ("code", "kodigo"),
    "vi": ("mã xác minh", "mã xác thực", "mã xác nhận", "mã", "otp"),
    "th": ("รหัส", "ยืนยัน", "โอทีพี"),
    "ru": ("код", "пароль", "подтвержд"),
    "uk": ("код", "підтвердж"),
    "el": ("κωδικ", "επαλήθευσ"),
    "ja": ("認証コード", "確認コード", "ワンタイム", "コード", "認証番号", "確認番号", "暗証番号"),
    "zh": (
        "验证码", "驗證碼", "校验码", "动态码", "确认码", "確認碼", "認證碼", "一次性密码",
        "一次性密碼", "动态密码", "動態密碼", "验证代码", "驗證代碼", "登录代码", "登入代码",
        "登入代碼", "确认代码", "確認代碼", "安全代码", "安全代碼", "重置码", "重置碼", "重设码",
        "重設碼",
    ),
    "ko": ("인증", "코드"),
    "ar": ("رمز", "كود", "التحقق", "لمرة واحدة"),
    "fa": ("کد", "یکبار مصرف", "احراز هویت"),
    "he": ("קוד",),
    "hi": ("कोड", "सत्यापन", "ओटीपी"),
    "bn": ("কোড",),
    "ur": ("کوڈ",),
}  # fmt: skip

# The endings a keyword of ASCII letters takes and still names the code: Polish "kodu",
# "kodem"; Turkish "kodu", "kodunuz"; Swedish "koden"; Danish and Norwegian "koden"; Finnish
# "koodisi", "koodin"; Estonian "koodi"; Romanian "codul"; Lithuanian "kodas"; Indonesian
# "kodenya". Another ending makes another word ("Kodak", "Kodeks", "coda").
CODE_KEYWORD_ENDINGS: dict[str, tuple[str, ...]] = {
    "kod": (
        "u", "em", "zie", "y", "ów", "om", "ami", "ach", "unuz", "un", "unu", "unuzu", "lar",
        "ları", "en", "er", "erna", "as", "ą", "ai",
    ),
    "kode": ("n", "r", "ne", "nya", "mu"),
    "koodi": ("si", "n", "a", "nne", "t"),
    "kood": ("i", "id",),
    "cod": ("ul", "ului", "uri", "urile"),
    "dogrulama": ("nız", "niz"),
}  # fmt: skip
# … and these also end compounds ("bekräftelsekoden", "vahvistuskoodi", "engangskode") …
COMPOUND_CODE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "sv": ("kod",),
    "da": ("kode",),
    "no": ("kode",),
    "fi": ("koodi",),
}
# … unless the compound names another kind of code: discount, campaign, coupon, gift card,
# postal, door, order, offer, tracking (Finnish, Swedish, Danish, Norwegian, Hungarian, Czech
# and Slovak, whose "kód" is found inside compounds as any non-ASCII keyword is).
NOT_CODE_COMPOUND_PREFIXES: dict[str, tuple[str, ...]] = {
    "fi": ("alennus", "kampanja", "kuponki", "lahjakortti", "posti", "ovi", "tilaus", "seuranta"),
    "sv": ("rabatt", "kampanj", "kupong", "presentkort", "post", "port", "order", "spårning"),
    "da": ("rabat", "kampagne", "kupon", "gavekort", "post", "dør", "ordre", "tilbud", "sporing"),
    "no": ("rabatt", "kampanje", "kupong", "gavekort", "post", "dør", "ordre", "tilbud"),
    "hu": ("kupon", "kedvezmény", "promóciós", "posta", "irányító", "termék", "vonal"),
    "cs": ("slevov", "slevo", "dárkov", "poštovní", "čárov", "promo"),
}  # fmt: skip

# The keywords that name any code (the word "code", "PIN", "password"): the words around them
# can make it a postal or promo code, and in a meeting invitation they name its passcode.
GENERIC_CODE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("code", "pin", "passcode", "token"),
    "da": ("kode",),
    "fi": ("koodi",),
    "cs": ("kód",),
    "ro": ("cod",),
    "vi": ("mã",),
    "th": ("รหัส",),
    "zh": ("代码", "代碼"),
    "sv": ("kod",),
    "pl": ("kod",),
    "tr": ("kod",),
    "id": ("kode",),
    "es": ("código", "codigo"),
    "pt": ("código", "codigo"),
    "it": ("codice",),
    "ca": ("codi",),
    "ru": ("код", "пароль"),
    "ja": ("コード",),
    "ko": ("코드",),
    "he": ("קוד",),
    "hi": ("कोड",),
    "ar": ("رمز", "كود"),
    "fa": ("کد",),
}

# Keywords matched as whole words although not ASCII: the Persian "code" is also inside
# "کدام" (which) and "یکدیگر" (each other). Other non-ASCII keywords match inside words too
# (inflections, no spaces in CJK, the Arabic "الرمز" and "رمزك": the code, your code).
WHOLE_WORD_CODE_KEYWORDS: dict[str, tuple[str, ...]] = {"fa": ("کد",), "vi": ("mã",)}

# Keywords that, on a booking, name the reservation's record locator.
BOOKING_CODE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("confirmation code",),
    "fr": ("code de confirmation",),
    "de": ("bestätigung",),
}

# A word just before a generic code keyword that names another kind of code: "promo code",
# "zip code", "auth code: 004512" (a card payment's authorisation, on a receipt). Whole words.
NOT_CODE_BEFORE_KEYWORD: dict[str, tuple[str, ...]] = {
    "en": (
        "promo", "promotional", "discount", "coupon", "voucher", "gift", "zip", "postal", "post",
        "area", "country", "source", "bar", "qr", "dress", "error", "status", "tracking",
        "reference", "invoice", "order", "booking", "reservation", "referral", "product", "item",
        "sku", "style", "colour", "color", "tax", "vat", "swift", "bic", "iban", "routing",
        "sort", "auth", "authorisation", "authorization", "approval", "offer", "sale",
        "ticket", "customer", "client", "member", "membership", "card", "redemption",
    ),
    "de": ("rabatt", "gutschein"),
    # order, cargo, tracking, discount, coupon, post, reference, product, promotion, gift
    "tr": (
        "sipariş", "kargo", "takip", "indirim", "kupon", "posta", "referans", "ürün", "promosyon",
        "hediye",
    ),
    "pl": ("rabatowy", "pocztowy", "promocyjny"),
    # discount, gift, postal, bar (code)
    "cs": ("slevový", "dárkový", "poštovní", "čárový"),
    "sk": ("zľavový", "darčekový", "poštový", "čiarový"),
    "hu": ("kedvezményes", "promóciós", "ajándék"),
}  # fmt: skip

# A word just after a generic code keyword that names another kind of code: "code promo",
# "código postal", "الرمز البريدي" (the postal code), "کد پیگیری" (tracking code). Matched as
# the start of what follows the keyword.
NOT_CODE_AFTER_KEYWORD: dict[str, tuple[str, ...]] = {
    "fr": ("postal", "promo", "de réduction", "de réservation"),
    "es": ("postal", "promocional", "de descuento", "de reserva"),
    "pt": ("postal", "promocional", "de desconto", "de reserva"),
    "it": ("postale", "promozionale", "sconto"),
    "pl": ("pocztowy", "rabatowy", "promo"),
    "tr": ("indirim",),
    # postal, fiscal (the tax id), promotional, discount, bar (code)
    "ro": ("poștal", "postal", "fiscal", "promoțional", "promotional", "de reducere", "de bare"),
    # of the parcel, of the order, discount
    "cs": ("zásilky", "objednávky", "slevový"),
    "sk": ("zásielky", "objednávky", "zľavový"),
    "hu": ("kupon",),
    # order, discount, promotion, postal, waybill, transaction, invoice, ticket, customer, tax
    "vi": (
        "đơn hàng", "giảm giá", "khuyến mãi", "bưu", "vận đơn", "giao dịch", "hóa đơn", "hoá đơn",
        "vé", "khách hàng", "số thuế", "sản phẩm",
    ),
    # postal, discount, product, order, parcel, customer, member, tracking, branch
    "th": (
        "ไปรษณีย์", "ส่วนลด", "สินค้า", "คำสั่งซื้อ", "พัสดุ", "ลูกค้า", "สมาชิก", "ติดตาม", "สาขา",
    ),
    # postal, discount, promotional, voucher, coupon; with and without the article
    "ar": (
        "بريدي", "البريدي", "خصم", "الخصم", "ترويجي", "الترويجي", "قسيمة", "القسيمة", "كوبون",
        "الكوبون",
    ),
    # postal, discount, tracking (twice), order, national (the national id)
    "fa": ("پستی", "تخفیف", "پیگیری", "رهگیری", "سفارش", "ملی"),
}  # fmt: skip

# A code offered to act with, without a code keyword: "Use 604213 to sign in to Shop",
# "Verwende 604213, um dich anzumelden". Both halves are needed: a word that offers it, just
# before the code …
USE_BEFORE_CODE: dict[str, tuple[str, ...]] = {
    "en": ("use", "enter", "type", "input", "paste"),
    "de": ("verwende", "verwenden sie", "nutze", "nutzen sie", "gib", "geben sie"),
    "fr": ("utilisez", "utilise", "saisissez", "saisis", "entrez", "entre"),
    "es": ("usa", "use", "utiliza", "utilice", "introduce", "introduzca", "ingresa", "ingrese"),
    "pt": ("use", "usa", "utilize", "digite", "insira", "introduza"),
    "it": ("usa", "utilizza", "inserisci", "digita"),
    "nl": ("gebruik", "voer"),
}  # fmt: skip
# … and the action it is for, just after it (after a comma or the words "as your code").
ACTION_AFTER_CODE: dict[str, tuple[str, ...]] = {
    "en": (
        "to sign in", "to sign-in", "to log in", "to log-in", "to login", "to verify",
        "to confirm", "to complete", "to continue", "to finish", "to access", "to reset",
        "to activate", "to authenticate", "to proceed", "when prompted",
    ),
    "de": (
        "um dich", "um sich", "um ihr", "um dein", "um deine", "um ihre", "zur anmeldung",
        "zum anmelden", "zur bestätigung", "zur verifizierung",
    ),
    "fr": (
        "pour vous connecter", "pour te connecter", "pour confirmer", "pour vérifier",
        "pour valider", "pour continuer", "pour accéder", "pour réinitialiser", "pour activer",
        "pour finaliser", "pour vous identifier",
    ),
    "es": (
        "para iniciar sesión", "para acceder", "para verificar", "para confirmar",
        "para continuar", "para entrar", "para restablecer", "para activar", "para ingresar",
    ),
    "pt": (
        "para entrar", "para acessar", "para aceder", "para verificar", "para confirmar",
        "para continuar", "para fazer login", "para iniciar sessão", "para redefinir",
        "para ativar",
    ),
    "it": (
        "per accedere", "per verificare", "per confermare", "per continuare", "per reimpostare",
        "per attivare",
    ),
    "nl": (
        "om in te loggen", "om je aan te melden", "om u aan te melden", "om te bevestigen",
        "om te verifiëren", "om verder te gaan", "om door te gaan",
    ),
}  # fmt: skip

# Words that name a password the mail gives to keep (an administrator's temporary or new
# password), which is no one-time code even where the language's word for a password holds a
# code keyword (Greek "κωδικός πρόσβασης", access code) or is one (Russian "пароль"). A
# keyword inside one of these phrases does not count, unless the phrase goes on to say "one
# time" ("κωδικός πρόσβασης μίας χρήσης"). Matched in the lower-cased line.
PASSWORD_PHRASES: dict[str, tuple[str, ...]] = {
    "el": (
        "κωδικός πρόσβασης", "κωδικός πρόσβασής", "κωδικό πρόσβασης", "κωδικό πρόσβασής",
        "κωδικού πρόσβασης", "κωδικού πρόσβασής", "κωδικοί πρόσβασης", "κωδικούς πρόσβασης",
    ),
    "ru": (
        "временный пароль", "временного пароля", "временным паролем", "новый пароль",
        "нового пароля", "новым паролем",
    ),
    "uk": ("тимчасовий пароль", "тимчасового пароля", "новий пароль", "нового пароля"),
    "th": ("รหัสผ่าน",),
}  # fmt: skip
# … and the words after such a phrase that make it a one-time code after all.
ONE_TIME_AFTER_PASSWORD: dict[str, tuple[str, ...]] = {
    "el": ("μίας χρήσης", "μιας χρήσης"),
    "th": ("แบบใช้ครั้งเดียว", "ใช้ครั้งเดียว", "สำหรับใช้ครั้งเดียว"),
}

# A password to keep named in a line just above a lone number that no code keyword names:
# "Your temporary password:" / "482913" is a password, not a one-time code. (A bare
# "password" is not enough: "To reset your password, enter:" introduces a code.)
PASSWORD_LABELS: dict[str, tuple[str, ...]] = {
    "en": ("temporary password", "new password", "initial password", "your password:"),
    "de": ("temporäres passwort", "vorläufiges passwort", "neues passwort", "neues kennwort"),
    "fr": ("mot de passe temporaire", "nouveau mot de passe", "mot de passe provisoire"),
    "es": ("contraseña temporal", "nueva contraseña", "contraseña provisional"),
    "pt": ("senha temporária", "nova senha", "senha provisória"),
    "it": ("password temporanea", "nuova password"),
    "nl": ("tijdelijk wachtwoord", "nieuw wachtwoord"),
    "pl": ("hasło tymczasowe", "tymczasowe hasło", "nowe hasło"),
    "ru": ("временный пароль", "новый пароль"),
    "uk": ("тимчасовий пароль", "новий пароль"),
    "el": ("προσωρινός κωδικός", "νέος κωδικός"),
    "ja": ("一時パスワード", "仮パスワード", "一時的なパスワード", "新しいパスワード"),
    "zh": ("临时密码", "臨時密碼", "新密码", "新密碼"),
    "ko": ("임시 비밀번호", "새 비밀번호"),
    "vi": ("mật khẩu tạm thời", "mật khẩu mới"),
    "th": ("รหัสผ่านชั่วคราว", "รหัสผ่านใหม่"),
    "id": ("kata sandi sementara", "kata sandi baru"),
    "tr": ("geçici şifre", "yeni şifre", "geçici parola"),
}  # fmt: skip
