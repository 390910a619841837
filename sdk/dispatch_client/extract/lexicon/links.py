"""Link words: the words of a call to action, and the words and URLs of links that are never
one."""

from __future__ import annotations

# Stems of a call to action, matched anywhere in the lower-cased anchor text, URL path or the
# sentence introducing a plain-text link ("verif" covers verify, verification, verifizieren,
# verificar …).
ACTION_STEMS: dict[str, tuple[str, ...]] = {
    "en": (
        "verif", "confirm", "activat", "magic", "login", "log-in", "log_in", "log in", "signin",
        "sign-in", "sign_in", "sign in", "auth", "reset", "validat", "approve", "accept", "sign up",
        "sign-up", "signup", "log me in", "sign me in", "get logged in", "be logged in",
        "get signed in", "be signed in",
    ),
    "fr": (
        "vérifi", "activer", "valider", "connexion", "connecter", "se connecter", "réinitialis",
        "activez", "validez", "magique",
    ),
    "es": (
        "activar", "iniciar", "iniciar sesión", "entrar", "restablecer", "autentic", "aceptar",
        "activa", "restablec", "inicia sesión", "mágic",
    ),
    "ca": ("verifica", "confirma", "autentic", "restableix", "accepta", "inicia la sessió"),
    "pt": (
        "ativar", "iniciar", "entrar", "redefinir", "repor", "aceitar", "autentic", "ative",
        "redefin", "mágic",
    ),
    "it": (
        "attiva", "accedi", "accedere", "conferm", "reimposta", "accetta", "autentic", "ripristina",
    ),
    "de": (
        "aktivier", "bestätig", "anmeld", "einlogg", "zurücksetz", "annehmen", "verifizier",
        "zurückzusetzen", "wiederherstell", "wiederherzustell", "freischalt", "magisch",
    ),
    "nl": (
        "activeer", "bevestig", "inloggen", "aanmelden", "herstel", "accepteer",
        "opnieuw instellen", "stel opnieuw in",
        "magisch",
    ),
    "sv": ("bekräfta", "återställ", "logga in", "aktivera"),
    "da": ("bekræft", "nulstil", "log ind", "aktivér", "aktiver"),
    "no": ("bekreft", "tilbakestill", "logg inn"),
    "fi": ("vahvista", "nollaa", "kirjaudu", "aktivoi"),
    "pl": (
        "weryfik", "potwierdź", "potwierdz", "zaloguj", "aktywuj", "resetuj", "zaakceptuj",
        "akceptuj",
    ),
    "cs": ("ověř", "potvrď", "potvrdit", "obnovit", "přihlásit", "aktivovat", "přijmout"),
    "sk": ("overiť", "potvrď", "potvrdiť", "obnoviť", "prihlásiť", "aktivovať", "prijať"),
    "hu": ("megerősít", "ellenőriz", "visszaállít", "bejelentkez", "aktivál", "elfogad"),
    "ro": ("confirm", "resetează", "activează", "conectează", "autentific"),
    "hr": ("potvrdi", "potvrdite", "prijavi", "aktiviraj"),
    "ru": (
        "подтверд", "войти", "вход", "активир", "сбросить", "восстанов", "принять", "сброс",
        "волшебн",
    ),
    "uk": (
        "підтверд", "увійти", "вхід", "скинути", "відновити", "активу", "прийняти", "скинут",
        "скидан", "скиньте", "віднов",
    ),
    "bg": ("потвърд", "вход", "приеми", "нулир", "възстанов"),
    "lt": ("patvirtin", "prisijung", "priimti"),
    "el": ("επιβεβαίω", "επαλήθευσ", "σύνδεσ", "επαναφορ", "αποδεχ", "αποδοχ"),
    "tr": ("doğrula", "onayla", "giriş", "sıfırla", "etkinleştir", "kabul", "oturum aç"),
    "ja": (
        "認証", "ログイン", "有効化", "再設定", "リセット", "承認", "承諾", "サインイン",
        "マジックリンク",
    ),
    "zh": (
        "验证", "驗證", "确认", "確認", "登录", "登入", "激活", "重置", "重設", "啟用", "接受",
        "重设", "找回", "认证", "認證",
        "魔法链接", "魔法連結",
    ),
    "ko": ("인증", "로그인", "활성화", "재설정", "수락", "초기화", "매직 링크"),
    "ar": ("تأكيد", "تفعيل", "تحقق", "إعادة تعيين", "تسجيل الدخول", "قبول", "استعادة"),
    "he": ("אימות", "אישור", "איפוס", "היכנס", "התחבר", "אמת", "אפס", "שחזר"),
    "hi": ("सत्यापित", "पुष्टि", "रीसेट", "लॉग इन"),
    "vi": ("mã xác", "xác nhận", "xác minh", "đặt lại", "đăng nhập", "kích hoạt"),
    "th": ("ยืนยัน", "รีเซ็ต", "เข้าสู่ระบบ", "ยอมรับ"),
    "id": ("verifikasi", "konfirmasi", "atur ulang", "masuk", "aktifkan", "terima", "setel ulang"),
    "ms": ("sahkan", "tetapkan semula", "log masuk"),
    "fa": ("تأیید", "تایید", "فعال‌سازی", "فعالسازی", "بازنشانی", "ورود"),
    "sl": ("potrdi", "ponastavi", "prijav"),
    "lv": ("apstiprin", "atiestat", "pieteik"),
    "et": ("kinnita", "lähtesta", "logi sisse"),
    "eu": ("egiaztatu", "hasi saioa"),
    "az": ("təsdiq", "daxil ol"),
    "bn": ("যাচাই", "লগ ইন", "সাইন ইন"),
    "ur": ("تصدیق", "لاگ ان"),
    "sw": ("thibitisha", "ingia"),
    "sr": ("потврд", "пријав", "prijav"),
    "is": ("staðfest", "skrá inn"),
}  # fmt: skip
# Words of the password and of recovering an account, which name the call to action of a reset
# ("Change my password", …/recover_account) when the link carries a secret (see SIGN_IN_STEMS).
PASSWORD_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("password", "recover"),
    "fr": ("mot de passe",),
    "es": ("contraseña",),
    "pt": ("senha", "palavra-passe"),
    "de": ("passwort", "kennwort"),
    "nl": ("wachtwoord",),
    "sv": ("lösenord",),
    "da": ("adgangskode",),
    "no": ("passord",),
    "fi": ("salasana",),
    "pl": ("hasło", "hasła", "hasla", "haslo"),
    "cs": ("heslo",),
    "hu": ("jelszó", "jelszav"),
    "ro": ("parola", "parolă"),
    "hr": ("lozink",),
    "ru": ("пароль",),
    "uk": ("пароль",),
    "el": ("κωδικ",),
    "tr": ("şifre", "parola"),
    "ja": ("パスワード",),
    "zh": ("密码", "密碼"),
    "ko": ("비밀번호",),
    "ar": ("كلمة المرور", "كلمة السر", "كلمة مرور", "كلمة سر"),
    "he": ("סיסמ",),
    "fa": ("رمز عبور",),
    "vi": ("mật khẩu",),
    "th": ("รหัสผ่าน",),
    "id": ("kata sandi",),
    "sl": ("geslo", "gesla"),
    "lt": ("slaptažod",),
    "lv": ("parol",),
    "et": ("parool",),
    "ca": ("contrasenya",),
    "bg": ("парол",),
    "hi": ("पासवर्ड",),
    "ms": ("kata laluan",),
    "eu": ("pasahitz",),
    "gl": ("contrasinal",),
    "is": ("lykilorð",),
    "sq": ("fjalëkalim",),
    "sr": ("лозинк", "lozink"),
    "bn": ("পাসওয়ার্ড",),
    "ur": ("پاس ورڈ",),
    "sw": ("nenosiri",),
    "az": ("şifrə",),
}  # fmt: skip
# Words of an invitation's button ("Join Acme", "Set up your account"), calls to action in its
# anchor text when the link carries a secret (see SIGN_IN_STEMS): without one, "Join our
# community" is a newsletter's.
JOIN_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("join", "set up your account", "create your account", "complete your registration"),
    "de": ("beitreten", "konto einrichten"),
    "fr": ("rejoindre", "créer votre compte"),
    "es": ("unirse", "únete", "unirte", "crear tu cuenta"),
    "pt": ("participar", "junte-se", "criar sua conta"),
    "it": ("unisciti", "partecipa"),
    "nl": ("deelnemen", "doe mee"),
    "pl": ("dołącz",),
    "cs": ("připojit",),
    "ru": ("присоединиться", "присоединяйтесь"),
    "uk": ("приєднатися",),
    "tr": ("katıl",),
    "ja": ("参加",),
    "zh": ("加入",),
    "ko": ("참여", "가입"),
}  # fmt: skip
# Words of an invitation and of unlocking an account: calls to action (in anchor text and URL
# paths) only when the link carries a secret, as invitations and unlock links do; "Invite
# your teammates" on a notification and "Unlock 20% off" on an offer carry none.
INVITATION_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("invit", "unlock"),
    "fr": ("invitation", "débloquer"),
    "es": ("invitación", "desbloquear"),
    "ca": ("invitació",),
    "pt": ("convite", "desbloquear"),
    "it": ("invito", "sblocca"),
    "de": ("einladung", "entsperr"),
    "nl": ("uitnodiging", "ontgrendel"),
    "pl": ("zaproszen", "odblokuj"),
    "cs": ("pozván",),
    "sk": ("pozván",),
    "hu": ("meghív",),
    "ru": ("приглаш", "разблокир"),
    "uk": ("запрош",),
    "bg": ("покан",),
    "lt": ("kvietim",),
    "el": ("πρόσκλησ",),
    "tr": ("davet",),
    "ja": ("招待",),
    "zh": ("邀请", "邀請"),
    "ko": ("초대",),
    "ar": ("دعوة", "الدعوة"),
    "he": ("הזמנה",),
    "th": ("คำเชิญ",),
    "id": ("undangan",),
}  # fmt: skip
# The stems above that only ask to sign in. A link named only by these, the password, join or
# invitation words is the call to action only when it carries a secret (a magic link, a reset
# link, an invitation), not a notification's "Log in" or "Forgot your password?".
SIGN_IN_STEMS: dict[str, tuple[str, ...]] = {
    "en": (
        "login", "log-in", "log_in", "log in", "signin", "sign-in", "sign_in", "sign in", "sign up",
        "sign-up", "signup", "log me in", "sign me in", "get logged in", "be logged in",
        "get signed in", "be signed in",
    ),
    "fr": ("connexion", "connecter", "se connecter", "connectez", "identifiez"),
    "es": ("iniciar", "iniciar sesión", "entrar", "inicia sesión", "ingresa", "ingresar", "accede"),
    "pt": ("entrar", "iniciar", "acesse", "acessar", "aceda"),
    "it": ("accedi", "accedere"),
    "de": ("anmeld", "einlogg"),
    "nl": ("inloggen", "aanmelden"),
    "sv": ("logga in",),
    "da": ("log ind",),
    "no": ("logg inn",),
    "fi": ("kirjaudu",),
    "pl": ("zaloguj",),
    "cs": ("přihlásit",),
    "sk": ("prihlásiť",),
    "hu": ("bejelentkez",),
    "ro": ("conectează",),
    "hr": ("prijavi",),
    "ru": ("войти", "вход"),
    "uk": ("увійти", "вхід"),
    "el": ("σύνδεσ",),
    "tr": ("giriş", "oturum aç"),
    "ja": ("ログイン", "サインイン"),
    "ca": ("inicia la sessió",),
    "ar": ("تسجيل الدخول",),
    "he": ("היכנס", "התחבר"),
    "lt": ("prisijung",),
    "zh": ("登录", "登入"),
    "ko": ("로그인",),
    "vi": ("đăng nhập",),
    "th": ("เข้าสู่ระบบ",),
    "id": ("masuk",),
    "ms": ("log masuk",),
    "fa": ("ورود",),
    "sl": ("prijav",),
    "lv": ("pieteik",),
    "et": ("logi sisse",),
    "eu": ("hasi saioa",),
    "az": ("daxil ol",),
    "bn": ("লগ ইন", "সাইন ইন"),
    "ur": ("لاگ ان",),
    "sw": ("ingia",),
    "sr": ("пријав", "prijav"),
    "is": ("skrá inn",),
    "hi": ("लॉग इन",),
}  # fmt: skip
# Words of a footer before or in a link, which is never the call to action: "Powered by
# <a>Verifly</a>" (an action stem inside a brand name).
FOOTER_PHRASES: dict[str, tuple[str, ...]] = {
    "en": ("powered by", "built with", "made with"),
    "fr": ("propulsé par", "fourni par"),
    "de": ("bereitgestellt von", "betrieben von", "unterstützt von"),
    "es": ("desarrollado por", "con la tecnología de", "impulsado por"),
    "pt": ("desenvolvido por", "com tecnologia"),
    "it": ("offerto da", "realizzato con"),
    "nl": ("mogelijk gemaakt door",),
}  # fmt: skip
# Words that make anchor text a call to action, but not a URL or a sentence: introducing a
# plain-text link, "continue", "one click" or the Japanese and Korean "check" are too common to
# mean an action.
ANCHOR_ACTION_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("continue", "one click", "one-click"),
    "ja": ("確認",),
    "ko": ("확인",),
}

# Words of the link to follow if the mail was unexpected, which is no call to action: "If this
# wasn't you, reset your password at …". Matched anywhere in the lower-cased sentence …
IF_NOT_YOU_PHRASES: dict[str, tuple[str, ...]] = {
    "en": (
        "if this wasn't", "if this wasn’t", "if this was not", "if it wasn't", "if it wasn’t",
        "if it was not", "if you didn't", "if you didn’t",
        "if you did not", "didn't request", "didn’t request", "wasn't you", "wasn’t you",
        "secure your account",
    ),
    "de": (
        "nicht gewesen sein", "nicht gewesen sind", "wenn sie das nicht waren",
        "falls sie das nicht waren", "wenn du das nicht warst", "falls du das nicht warst",
        "waren sie das nicht", "warst du das nicht", "nicht von ihnen", "nicht von dir",
        "nicht geändert haben", "nicht geändert hast", "nicht veranlasst haben",
        "nicht veranlasst hast",
    ),
    "fr": (
        "pas à l'origine", "pas à l’origine", "si ce n'était pas vous", "si ce n’était pas vous",
        "si ce n'est pas vous", "si ce n’est pas vous", "si ce n'était pas toi",
        "si vous n'avez pas changé", "si vous n’avez pas changé", "si vous n'avez pas modifié",
        "si vous n’avez pas modifié",
    ),
    "es": (
        "si no es usted", "si no fuiste tú", "si no fuiste tu", "si no has sido tú",
        "si no fue usted", "si no ha sido usted", "si no modificó", "si no cambió",
        "si usted no cambió",
    ),
    "pt": ("se não foi você", "se não foi voce", "se não foste tu", "se não foi o senhor"),
    "it": ("se non sei stato tu", "se non sei stata tu", "se non è stato lei", "se non sei tu"),
    "nl": (
        "als jij het niet", "als u het niet", "als jij dit niet", "als u dit niet",
        "als jij dat niet", "als u dat niet", "niet degene",
    ),
    "da": ("hvis det ikke var dig",),
    "no": ("hvis det ikke var deg", "hvis det ikke var du"),
    "sv": ("om det inte var du",),
    "fi": ("jos sinä et", "jos et itse", "jos se et ollut sinä"),
    "et": ("kui teie seda ei", "kui sina seda ei", "kui see ei olnud teie"),
    "pl": ("jeśli to nie ty", "jeżeli to nie ty", "jeśli to nie pan", "jeżeli to nie pan"),
    "cs": ("pokud jste to nebyl", "pokud jste to nebyla", "pokud jste to nebyli"),
    "sk": ("ak ste to neboli", "ak ste to nebol", "ak ste to nebola"),
    "sl": ("če tega niste", "če to niste"),
    "hr": ("ukoliko je niste", "ako to niste vi", "ako niste vi"),
    "ro": ("dacă nu ai cerut", "daca nu ai cerut", "dacă nu ați cerut", "daca nu ati cerut"),
    "hu": ("ha nem ön volt", "ha nem te voltál"),
    "lt": ("jei jūs jo nekeitėte", "jei tai ne jūs", "jei tai buvote ne jūs"),
    "tr": (
        "siz değilseniz", "sen değilsen", "siz yapmadıysanız", "sen yapmadıysan",
        "değiştirmediyseniz", "değiştirmediysen",
    ),
    "ru": (
        "если это были не вы", "если это не вы", "если это сделали не вы", "если вы не меняли",
        "если вы не изменяли",
    ),
    "uk": ("якщо це не ви", "якщо це були не ви", "якщо це зробили не ви"),
    "ar": ("إذا لم تكن", "اذا لم تكن", "إذا لم تقم", "اذا لم تقم", "إن لم يكن", "ان لم يكن"),
    "fa": ("اگر شما آن را", "اگر شما نبودید", "اگر این شما نبودید"),
    "he": ("אם לא שינית", "אם זה לא אתה", "אם זה לא היית אתה"),
    "ja": ("あなたでない場合", "あなたではない場合", "心当たりがない場合", "覚えがない場合"),
    "zh": (
        "如果不是您", "如果不是你", "若不是您", "如非本人", "如果这不是您", "如果這不是您",
        "如果您没有更改", "如果你没有更改",
    ),
    "ko": ("변경하지 않으셨다면", "본인이 아닌 경우", "본인이 아니라면"),
    "vi": ("nếu không phải là bạn", "nếu không phải bạn"),
    "id": ("jika anda tidak merasa", "jika bukan anda", "jika ini bukan anda"),
    "th": ("หากไม่ใช่คุณ", "ถ้าไม่ใช่คุณ"),
}  # fmt: skip
# Words that tell the reader to ignore the mail: a block above a button that says "If you did
# not sign up, ignore this." does not make the button the if-not-you link.
IGNORE_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("ignore", "disregard", "delete this email", "delete this message"),
    "de": ("ignorier",),
    "fr": ("ignorer", "ignorez"),
    "es": ("ignora", "ignore", "ignorar"),
    "pt": ("ignore", "ignorar"),
    "it": ("ignora", "ignorare"),
    "nl": ("negeer", "negeren"),
    "sv": ("ignorera", "bortse"),
    "da": ("ignorer", "se bort"),
    "fi": ("ohita", "jätä huomiotta"),
    "et": ("ignoreeri",),
    "pl": ("zignoruj", "zignorować", "zignorowac"),
    "cs": ("ignorujte",),
    "sk": ("ignorujte",),
    "sl": ("prezrite",),
    "hr": ("zanemarite",),
    "ro": ("ignora", "ignorați", "ignorati"),
    "hu": ("figyelmen kívül",),
    "lt": ("ignoruokite",),
    "tr": ("dikkate almayın", "görmezden"),
    "ru": ("игнорир", "проигнорир"),
    "uk": ("ігнору", "проігнору"),
    "ar": ("تجاهل",),
    "fa": ("نادیده",),
    "he": ("התעלם",),
    "ja": ("無視", "破棄"),
    "zh": ("忽略",),
    "ko": ("무시",),
    "vi": ("bỏ qua",),
    "id": ("abaikan",),
    "th": ("เพิกเฉย",),
}  # fmt: skip
# … and these as whole words ("not you", not "not your").
WHOLE_WORD_IF_NOT_YOU_PHRASES: dict[str, tuple[str, ...]] = {"en": ("not you",)}

# A subject that reports what happened to the account (a security notice): its "reset your
# password", "secure your account" or "review activity" link is for the case it wasn't you,
# not the mail's call to action, unless the rest of the subject asks for one ("New sign-in:
# confirm it's you"). Matched anywhere in the lower-cased subject.
NOTICE_SUBJECT_PHRASES: dict[str, tuple[str, ...]] = {
    "en": (
        "password was changed", "password has been changed", "password changed",
        "password was updated", "password has been updated", "password updated",
        "new sign-in", "new sign in", "new login", "new log-in", "signed in from",
        "sign-in from a new", "login from a new", "new device", "email was changed",
        "email has been changed", "email address was changed", "email address has been changed",
        "email changed", "email address changed", "security alert", "security notice",
        "two-factor authentication was disabled", "two-factor authentication disabled",
        "two-factor authentication has been disabled", "two-factor authentication was enabled",
        "two-factor authentication enabled", "two-factor authentication has been enabled",
        "2fa enabled", "2fa disabled", "login alert", "sign-in alert", "signin alert",
        "unusual sign-in", "unusual login", "suspicious sign-in", "suspicious login",
        "new browser", "login from", "sign-in from", "was accessed", "security notification",
        "password reset successful", "password has been reset successfully",
        "password was reset successfully", "password reset complete", "email address updated",
        "email was updated", "email has been updated", "passkey added", "new passkey",
        "security key added",
    ),
    "de": (
        "passwort wurde geändert", "passwort geändert", "kennwort wurde geändert",
        "neue anmeldung", "e-mail-adresse wurde geändert", "sicherheitshinweis",
        "sicherheitswarnung",
    ),
    "fr": (
        "mot de passe a été modifié", "mot de passe modifié", "mot de passe a été changé",
        "nouvelle connexion", "alerte de sécurité", "adresse e-mail a été modifiée",
    ),
    "es": (
        "contraseña ha sido cambiada", "contraseña ha cambiado", "se ha cambiado tu contraseña",
        "se ha cambiado su contraseña", "contraseña cambiada", "nuevo inicio de sesión",
        "alerta de seguridad",
    ),
    "pt": (
        "senha foi alterada", "senha alterada", "novo login", "novo acesso", "alerta de segurança",
    ),
    "it": (
        "password è stata modificata", "password modificata", "nuovo accesso",
        "avviso di sicurezza",
    ),
    "nl": ("wachtwoord is gewijzigd", "wachtwoord gewijzigd", "nieuwe aanmelding", "nieuwe login"),
    "ja": (
        "パスワードが変更されました", "パスワード変更のお知らせ", "新しいログイン",
        "新しいサインイン",
    ),
    "zh": ("密码已更改", "密码已修改", "密碼已變更", "新登录"),
    "ru": (
        "пароль был изменен", "пароль был изменён", "пароль изменен", "пароль изменён",
        "новый вход",
    ),
    "tr": ("şifreniz değiştiril", "parolanız değiştiril", "yeni oturum açma", "yeni giriş"),
}  # fmt: skip

# Words of a link that is never the call to action (unsubscribe, privacy, help …), matched
# anywhere in its lower-cased anchor text, host and path.
NEVER_PRIMARY_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "unsub", "optout", "opt-out", "opt_out", "opt out", "preferences", "privacy", "terms",
        "legal", "help", "support", "faq", "contact", "browser", "report", "feedback", "manage",
        "view in", "view this",
    ),
    "de": ("abmelden", "abbestell"),
    "fr": ("désabonner", "désinscri"),
    "es": ("desuscribir", "cancelar suscripción", "desinscri"),
    "pt": ("desinscri",),
    "it": ("disiscriviti", "disdici"),
    "nl": ("afmelden",),
    "ru": ("отписаться",),
    "ja": ("配信停止",),
    "zh": ("退订",),
    "ko": ("수신거부",),
}  # fmt: skip
# The same for the hosts and paths of documentation, social networks and app stores.
NEVER_PRIMARY_URL_PARTS = (
    "/doc/", "/docs/", "facebook.", "twitter.", "//x.com", "linkedin.", "instagram.", "youtube.",
    "tiktok.", "apps.apple", "play.google",
)  # fmt: skip

# Hosts and paths (lower-cased) of click-tracking wrappers whose destination only their server
# knows: SendGrid, Mailgun, Mailchimp, Mimecast, HubSpot, Brevo, Postmark, Customer.io.
OPAQUE_WRAPPERS = (
    "/ls/click", "sendgrid.net/", "list-manage.com/track/click", "mimecast.com/s/",
    "hubspotlinks.com/", "/mk/cl/", "click.pstmrk.it/", "/e/c/",
)  # fmt: skip
# Mailgun's tracking links are /c/<opaque> on the sender's tracking host ("email.…", "mg.…").
# Query parameters that carry a redirect target (a tracking or safe-links wrapper's).
REDIRECT_PARAMS = (
    "url", "u", "q", "target", "redirect", "redirect_url", "dest", "destination", "link", "goto",
    "to", "r", "l", "href",
)  # fmt: skip
# Query parameters that carry a secret: named like these ("t=…", "k=…") …
SECRET_PARAMS = ("t", "k")
# … or ending in one of these ("token=…", "oobCode=…", "reset_token=…").
SECRET_PARAM_ENDINGS = (
    "token",
    "secret",
    "code",
    "key",
    "otp",
    "hash",
    "sig",
    "signature",
    "ticket",
    "nonce",
    "jwt",
)
# The endings of those that make a link the destination itself, whose redirect parameter only
# says where it leads after ("/members/?token=…&r=https://blog/"): not a signature or a hash,
# with which wrappers sign their targets, nor a key, which some carry for their API.
DESTINATION_SECRET_PARAM_ENDINGS = ("token", "secret", "code", "otp", "ticket", "nonce", "jwt")
