"""Decoys: the words around a number that make it no one-time code, and the markers of
messages (meeting invitations, bookings) whose "codes" are something else."""

from __future__ import annotations

# The label just before a number: "Order #", "Tel.", "Total", "Betrag" … Whole words.
LABELS_BEFORE_NUMBER: dict[str, tuple[str, ...]] = {
    "en": (
        "no", "num", "number", "order", "invoice", "receipt", "tracking", "shipment", "parcel",
        "ref", "reference", "ticket", "case", "customer", "account", "member", "card", "ending",
        "ending in", "booking", "flight", "seat", "gate", "room", "suite", "unit", "apt", "box",
        "p.o. box", "po box", "street", "st.", "avenue", "ave", "road", "zip", "postal", "tel",
        "phone", "call", "fax", "mobile", "whatsapp", "sms to", "step", "page", "item",
        "version", "v.", "build", "id", "sku", "model", "serial", "part", "qty", "quantity",
        "total", "amount", "price", "subtotal", "balance", "paid", "charged", "loyalty",
        "points", "auth", "authorisation", "authorization", "approval", "copyright", "(c)",
        "username", "user name", "user", "user id", "userid", "login name", "login id",
    ),
    "de": (
        "nr", "plz", "betrag", "summe", "bestellung", "rechnung", "sendung", "benutzername",
        "nutzername", "benutzer",
    ),
    "fr": ("numéro", "montant", "commande", "facture", "colis", "nom d'utilisateur", "identifiant"),
    "es": ("numero", "importe", "valor", "pedido", "factura", "paquete", "usuario"),
    "pt": ("valor", "pedido", "usuário", "utilizador"),
    "it": ("numero", "ordine", "fattura", "utente"),
    "nl": ("gebruikersnaam", "bestelling", "bestelnummer", "factuur", "zending", "bedrag"),
    "pl": ("zamówienie", "zamówienia", "faktura"),
    "sv": ("beställning", "ordernummer", "faktura"),
    "da": ("ordre", "bestilling", "faktura"),
    "fi": ("tilaus", "lasku"),
    "tr": ("sipariş", "fatura"),
    "cs": ("objednávka", "objednávky", "faktura"),
    "ru": ("заказ", "заказа", "сумма"),
    # number, order, invoice, amount, total, price, phone, quantity, shipment, tracking,
    # account, card, ending in, postal, P.O. box
    "ar": (
        "رقم", "طلب", "الطلب", "طلبك", "فاتورة", "الفاتورة", "مبلغ", "المبلغ", "المجموع",
        "الإجمالي", "الاجمالي", "السعر", "سعر", "هاتف", "الهاتف", "جوال", "الجوال", "الكمية",
        "كمية", "الشحنة", "التتبع", "الحساب", "البطاقة", "المنتهية بـ", "البريدي", "ص.ب",
    ),
    # number, order, invoice, total, price, phone, quantity, tracking, card, account, postal
    "fa": (
        "شماره", "سفارش", "فاکتور", "جمع", "قیمت", "تلفن", "تعداد", "پیگیری", "رهگیری", "کارت",
        "حساب", "پستی",
    ),
}  # fmt: skip
# A record's label that names the number after a verb: "Your booking reference is KX72PQ",
# "Ihre Bestellnummer lautet 4821" (then "Show this code at the desk" names no one-time code).
# Whole words, optionally followed by "number", "no.", "id" or "#", then the verb.
RECORD_LABELS: dict[str, tuple[str, ...]] = {
    "en": (
        "reference", "booking", "reservation", "order", "invoice", "receipt", "ticket", "case",
        "tracking", "confirmation", "customer", "member", "transaction",
    ),
    "de": (
        "buchungsnummer", "bestellnummer", "referenz", "referenznummer", "rechnungsnummer",
        "kundennummer", "auftragsnummer",
    ),
}  # fmt: skip
RECORD_VERBS: dict[str, tuple[str, ...]] = {"en": ("is", "was"), "de": ("lautet", "ist")}
# Currencies, before or after an amount.
CURRENCY_CODES = ("usd", "eur", "gbp", "chf")
CURRENCY_SIGNS = ("$", "€", "£", "¥", "₹", "₽")
# Signs just before a number that make it no code: "#483920", "№ 12", "*739155#", "© 2026".
SIGNS_BEFORE_NUMBER = ("#", "№", "*", "©")

# Units, currencies and counted things just after a number: "25%", "10 minutes", "49,99 €",
# "3 items", "221 Baker St". Matched as the start of what follows the number …
UNITS_AFTER_NUMBER: dict[str, tuple[str, ...]] = {
    "en": (
        "px", "pt", "em", "km", "kg", "sec", "min", "hour", "hours", "day", "days", "minute",
        "minutes", "points", "pts", "item", "items", "people", "users", "customers", "members",
        "reviews", "star", "stars", "followers", "likes", "views", "downloads", "street",
        "avenue", "road", "blvd",
    ),
    "de": ("sekunden", "minuten", "stunden", "tage", "straße", "strasse"),
    "fr": ("seconde", "secondes", "jours", "rue"),
    "es": ("minutos", "días", "calle"),
    "pt": ("minutos", "dias"),
    "it": ("giorni",),
    "pl": ("zł",),
    "ru": ("руб", "минут", "часов", "дней"),
    "ja": ("分", "時間", "日"),
    "zh": ("分", "日"),
    # riyal, dirham, dinar, pound, lira, SAR, AED, EGP, minute, minutes, hour, hours, day,
    # days, piece
    "ar": (
        "ريال", "درهم", "دينار", "جنيه", "ليرة", "ر.س", "د.إ", "ج.م", "دقيقة", "دقائق", "ساعة",
        "ساعات", "يوم", "أيام", "قطعة",
    ),
    # rial, toman, minute, hour, day, pieces ("۲ عدد")
    "fa": ("ریال", "تومان", "دقیقه", "ساعت", "روز", "عدد"),
}  # fmt: skip
# … and these only as whole words ("mi" is not in "minutes").
WHOLE_WORD_UNITS_AFTER_NUMBER: dict[str, tuple[str, ...]] = {
    "en": ("mi", "lb", "lbs", "mb", "gb", "kb", "ms", "st", "ave", "rd"),
    "it": ("via",),
    "sv": ("kr",),
}
# Per cent, degree, the Turkish lira and the rial.
SIGNS_AFTER_NUMBER = ("%", "°", "₺", "﷼")

# Words of a promotional line, matched anywhere in it: a code keyword there names a promo code
# ("Take an extra 25% off with code" / "WINTER25").
PROMO_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("discount", "coupon", "promo", "% off", "at checkout"),
    "de": ("rabatt", "gutschein"),
    "fr": ("réduction",),
    "es": ("descuento",),
    "it": ("sconto",),
    "nl": ("korting",),
    "pl": ("rabat",),
    "ru": ("скидк",),
    "tr": ("indirim",),
    "ja": ("割引",),
    "zh": ("优惠",),
    "ko": ("할인",),
    "ar": ("خصم", "كوبون", "قسيمة"),
    "fa": ("تخفیف", "کوپن"),
}
# A whole word followed by a space and a number, on a promotional line: "save 20%".
PROMO_WORDS_BEFORE_NUMBER: dict[str, tuple[str, ...]] = {"en": ("save",)}

# A meeting invitation, by its phrases or its links: its "passcode" is the meeting's.
MEETING_MARKERS: dict[str, tuple[str, ...]] = {
    "en": (
        "meeting id", "join zoom meeting", "one tap mobile", "dial by your location",
        "join by phone", "conference id",
    ),
    "de": ("besprechungs-id",),
    "fr": ("id de réunion",),
    "es": ("id de reunión",),
}  # fmt: skip
MEETING_LINK_MARKERS = ("meet.google.", "teams.microsoft.com/l/meetup", "webex.com/meet")

# A booking (a flight, a hotel) or a purchase (a receipt, an invoice): its "confirmation
# code" is the reservation's record locator or the order's reference.
BOOKING_MARKERS: dict[str, tuple[str, ...]] = {
    "en": (
        "flight", "boarding", "itinerary", "eticket", "e-ticket", "check in", "check-in",
        "record locator", "pnr", "hotel", "departs", "departure", "receipt", "invoice",
        "subtotal", "order total", "order summary", "amount paid", "total paid",
    ),
    "de": ("flug", "rechnung", "quittung", "zwischensumme", "bestellübersicht"),
    "es": ("vuelo", "reserva", "recibo", "factura", "subtotal"),
    "pt": ("reserva", "recibo", "fatura", "subtotal"),
    "fr": ("réservation", "facture", "sous-total"),
    "it": ("ricevuta", "fattura", "subtotale"),
    "nl": ("factuur", "subtotaal", "totaal:"),
    "ru": ("рейс",),
    "zh": ("航班",),
    "ja": ("フライト",),
    "ko": ("항공편",),
}  # fmt: skip
