"""Link words: the words of a call to action, and the words and URLs of links that are never
one."""

from __future__ import annotations

# Stems of a call to action, matched anywhere in the lower-cased anchor text, URL path or the
# sentence introducing a plain-text link ("verif" covers verify, verification, verifizieren,
# verificar …).
ACTION_STEMS: dict[str, tuple[str, ...]] = {
    "en": (
        "verif", "confirm", "activat", "magic", "login", "log-in", "log_in", "log in", "signin",
        "sign-in", "sign_in", "sign in", "auth", "reset", "validat", "approve", "accept",
    ),
    "fr": ("vérifi", "activer", "valider", "connexion", "connecter", "se connecter"),
    "es": ("activar", "iniciar", "iniciar sesión", "entrar"),
    "pt": ("ativar", "iniciar", "entrar"),
    "it": ("attiva", "accedi", "accedere"),
    "de": ("aktivier", "bestätig", "anmeld", "einlogg"),
    "nl": ("activeer", "bevestig", "inloggen", "aanmelden"),
    "pl": ("weryfik", "potwierdź", "potwierdz", "zaloguj", "aktywuj"),
    "ru": ("подтверд", "войти", "вход", "активир"),
    "tr": ("doğrula", "onayla", "giriş"),
    "ja": ("認証", "ログイン", "有効化"),
    "zh": ("验证", "驗證", "确认", "登录", "登入", "激活"),
    "ko": ("인증", "로그인", "활성화"),
    "ar": ("تأكيد", "تفعيل", "تحقق"),
    "hi": ("सत्यापित", "पुष्टि"),
    "vi": ("mã xác",),
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
        "if this was", "if this wasn't", "if this wasn’t", "if this was not", "if it was",
        "if it wasn't", "if it wasn’t", "if it was not", "if you didn't", "if you didn’t",
        "if you did not", "didn't request", "didn’t request", "wasn't you", "wasn’t you",
        "secure your account",
    ),
}  # fmt: skip
# … and these as whole words ("not you", not "not your").
WHOLE_WORD_IF_NOT_YOU_PHRASES: dict[str, tuple[str, ...]] = {"en": ("not you",)}

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
    "code",
    "key",
    "otp",
    "hash",
    "sig",
    "signature",
    "ticket",
    "nonce",
)
