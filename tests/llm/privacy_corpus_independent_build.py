"""Writes ``privacy_corpus_independent.jsonl``: a second, held-out corpus for the scanner.

Run: ``python tests/llm/privacy_corpus_independent_build.py`` (deterministic: seeded).

The texts are written here by hand as the kinds of things people paste into an analyst's
assistant (mails, chat messages, config snippets, URLs with query strings, logs, CSV lines,
vCards, tickets), without looking at ``llm/privacy.py``'s patterns: labels say what a text
*is* (a card number, a phone number...), not what the scanner is expected to find. Values
are synthetic but valid where validity is part of what they are (Luhn for cards, mod-97 for
IBANs, the official check characters for national ids; the national ids are computed with
the published algorithms, some of them through python-stdnum's check-digit helpers).

Negatives are hard on purpose: dates, prices, versions, order and ticket numbers, ISBNs,
EANs, tracking numbers, epoch times, AWS account ids in ARNs, git SHAs, UUIDs, digests,
meeting ids, vendor names in prose ("largest contentful paint", "our Facebook ads"). Their
numbers are drawn at random, *not* filtered by Luhn: one random 12-19 digit number in ten
passes Luhn, and whether the scanner then calls it a possible card is what this corpus
measures.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

OUT = Path(__file__).with_name("privacy_corpus_independent.jsonl")
rng = random.Random(20261130)

FIRST = ["Ana", "Bram", "Chloe", "Dmitri", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jonas",
         "Kai", "Lucia", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara"]
LAST = ["Alvarez", "Bakker", "Costa", "Dahl", "Eriksen", "Fontaine", "Garcia", "Hoffmann",
        "Ivanova", "Jansen", "Kowalczyk", "Lindqvist", "Moreau", "Nieminen", "Okafor",
        "Petrov", "Rossi", "Schulz", "Virtanen", "Weber"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.de", "corp.example.io",
           "example.co.uk"]


def name() -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def email() -> str:
    f, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower()
    local = rng.choice([f"{f}.{last}", f"{f[0]}{last}", f"{f}_{last}{rng.randint(1, 99)}",
                        f"{f}+news", f"{last}.{f}"])
    return f"{local}@{rng.choice(DOMAINS)}"


def digits(n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def card(prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn_check_digit(body)


def group(number: str, sizes: tuple[int, ...], sep: str = " ") -> str:
    out, i = [], 0
    for s in sizes:
        out.append(number[i:i + s])
        i += s
    if i < len(number):
        out.append(number[i:])
    return sep.join(out)


def iban(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    num = int("".join(str(int(c, 36)) for c in rearranged))
    check = 98 - num % 97
    return f"{country}{check:02d}{bban}"


def spaced(s: str) -> str:
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def b62(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        s = "".join(rng.choice(alphabet) for _ in range(n))
        if any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(
                c.islower() for c in s):
            return s


def upper_alnum(n: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def hexs(n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def lower_alnum(n: int) -> str:
    while True:
        s = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(n))
        if sum(c.isdigit() for c in s) >= 3:
            return s


# --- national ids ----------------------------------------------------------------------


def dni() -> str:
    n = rng.randint(10_000_000, 99_999_999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def nie() -> str:
    lead = rng.choice("XYZ")
    n = rng.randint(1_000_000, 9_999_999)
    full = int(str("XYZ".index(lead)) + str(n))
    return f"{lead}{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[full % 23]}"


def codice_fiscale() -> str:
    from stdnum.it import codicefiscale

    body = ("".join(rng.choice("BCDFGLMNPRSTVZ") for _ in range(6)) + f"{rng.randint(40, 99)}"
            + rng.choice("ABCDEHLMPRST") + f"{rng.randint(1, 28):02d}"
            + rng.choice("ADFHLM") + f"{rng.randint(100, 999)}")
    return body + codicefiscale.calc_check_digit(body)


def hetu() -> str:
    dd, mm, yy = rng.randint(1, 28), rng.randint(1, 12), rng.randint(50, 99)
    ind = rng.randint(2, 899)
    n = int(f"{dd:02d}{mm:02d}{yy:02d}{ind:03d}")
    return f"{dd:02d}{mm:02d}{yy:02d}-{ind:03d}{'0123456789ABCDEFHJKLMNPRSTUVWXY'[n % 31]}"


def personnummer() -> str:
    yy, mm, dd = rng.randint(50, 99), rng.randint(1, 12), rng.randint(1, 28)
    body = f"{yy:02d}{mm:02d}{dd:02d}{rng.randint(100, 999)}"
    check = luhn_check_digit(body)  # Swedish: Luhn over the 9 digits
    return f"{body[:6]}-{body[6:]}{check}"


def nir() -> str:
    from stdnum.fr import nir as nir_mod

    body = (f"{rng.choice('12')}{rng.randint(50, 99)}{rng.randint(1, 12):02d}"
            f"{rng.randint(1, 95):02d}{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}")
    full = body + nir_mod.calc_check_digits(body)
    return f"{full[0]} {full[1:3]} {full[3:5]} {full[5:7]} {full[7:10]} {full[10:13]} {full[13:]}"


def bsn() -> str:
    while True:
        d = [rng.randint(0, 9) for _ in range(8)]
        d[0] = rng.randint(1, 9)
        s = sum((9 - i) * x for i, x in enumerate(d))
        last = s % 11
        if last < 10:
            return "".join(map(str, d)) + str(last)


def pesel() -> str:
    from stdnum.pl import pesel as pesel_mod

    yy, mm, dd = rng.randint(50, 99), rng.randint(1, 12), rng.randint(1, 28)
    body = f"{yy:02d}{mm:02d}{dd:02d}{rng.randint(1000, 9999)}"
    return body + pesel_mod.calc_check_digit(body)


def idnr() -> str:
    from stdnum import iso7064
    from stdnum.de import idnr as idnr_mod

    while True:
        ds = list(string.digits)
        rng.shuffle(ds)
        body = ds[:9]
        body.insert(rng.randint(1, 9), body[rng.randint(0, 8)])  # one digit twice
        s = "".join(body)
        if s[0] == "0":
            continue
        full = s + iso7064.mod_11_10.calc_check_digit(s)
        if idnr_mod.is_valid(full):
            return full


def cpr() -> str:
    dd, mm, yy = rng.randint(1, 28), rng.randint(1, 12), rng.randint(50, 99)
    return f"{dd:02d}{mm:02d}{yy:02d}-{rng.randint(1000, 3999)}"


def be_nn() -> str:
    yy, mm, dd = rng.randint(50, 99), rng.randint(1, 12), rng.randint(1, 28)
    serial = rng.randint(1, 997)
    base = int(f"{yy:02d}{mm:02d}{dd:02d}{serial:03d}")
    check = 97 - base % 97
    return f"{yy:02d}.{mm:02d}.{dd:02d}-{serial:03d}.{check:02d}"


def ahv() -> str:
    body = "756" + "".join(rng.choice(string.digits) for _ in range(9))
    total = sum((3 if i % 2 else 1) * int(c) for i, c in enumerate(body))
    check = (10 - total % 10) % 10
    full = body + str(check)
    return f"{full[:3]}.{full[3:7]}.{full[7:11]}.{full[11:]}"


def cnp() -> str:
    from stdnum.ro import cnp as cnp_mod

    body = (f"{rng.choice('12')}{rng.randint(50, 99)}{rng.randint(1, 12):02d}"
            f"{rng.randint(1, 28):02d}{rng.randint(1, 40):02d}{rng.randint(1, 999):03d}")
    return body + cnp_mod.calc_check_digit(body)


def pt_nif() -> str:
    from stdnum.pt import nif

    body = rng.choice("12") + "".join(rng.choice(string.digits) for _ in range(7))
    return body + nif.calc_check_digit(body)


def ssn() -> str:
    area = rng.choice([rng.randint(1, 665), rng.randint(667, 899)])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def nino() -> str:
    return (rng.choice(["AB", "JG", "KA", "LM", "PR", "SN", "TW", "WE"]) + digits(6)
            + rng.choice("ABCD"))


# --- phones ----------------------------------------------------------------------------


def us_phone() -> str:
    return f"{rng.randint(201, 989)}{rng.randint(200, 989)}{rng.randint(1000, 9999)}"


def uk_mobile() -> str:
    return f"7700 900{rng.randint(100, 999)}"


rows: list[dict] = []


def add(text: str, kinds: list[str], note: str) -> None:
    rows.append({"text": text, "private": bool(kinds), "kinds": sorted(set(kinds)),
                 "note": note})


# =======================================================================================
# POSITIVES
# =======================================================================================

# --- emails ---
for _ in range(4):
    add(f"Hi team, please loop in {email()} on the Q3 keyword report before Friday.",
        ["email"], "email: chat message")
for _ in range(3):
    n, e = name(), email()
    add(f"From: {n} <{e}>\nTo: seo-team@{rng.choice(DOMAINS)}\nSubject: crawl budget\n\n"
        "Can you check why the blog pages dropped out of the index?", ["email"],
        "email: mail header")
for _ in range(3):
    add("user_id,signup_date,email,plan\n"
        f"{rng.randint(1000, 9999)},2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)},{email()},pro\n"
        f"{rng.randint(1000, 9999)},2025-0{rng.randint(1, 9)}-2{rng.randint(0, 8)},{email()},free",
        ["email"], "email: CSV export")
add(f'{{"event": "signup", "props": {{"email": "{email()}", "utm_source": "newsletter"}}}}',
    ["email"], "email: JSON event")
add(f"<a href=\"mailto:{email()}?subject=Audit\">Contact our auditor</a>", ["email"],
    "email: mailto link")
add(f"GET /unsubscribe?email={email()}&list=weekly HTTP/1.1 200", ["email"],
    "email: raw in query string log")
e = email()
add(f"https://app.example.com/invite?email={e.replace('@', '%40')}&role=viewer",
    ["email"], "email: URL-encoded (%40) in a query string")
add(f"Reply-To: {email().upper()}", ["email"], "email: upper case header")
add(f"Ping {name()} ({email()}) if the sitemap job fails again.", ["email"],
    "email: in parentheses")

# --- phones ---
phone_texts = [
    (f"Call me back on +1 {rng.randint(201, 989)} 555 {rng.randint(1000, 9999)} after 3pm.",
     "phone: US international spaced"),
    (f"My cell is ({rng.randint(201, 989)}) 555-{rng.randint(1000, 9999)}, text first.",
     "phone: US parentheses"),
    (f"Office: 020 7946 {rng.randint(1000, 9999)}, ask for reception.", "phone: UK London"),
    (f"WhatsApp me: +44 {uk_mobile()}", "phone: UK mobile international"),
    (f"Ruf mich an: +49 30 {digits(8)}", "phone: German landline"),
    (f"Mobil: 0171 {digits(7)}", "phone: German mobile national"),
    (f"Mon numéro : 06 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
     f"{rng.randint(10, 99)}", "phone: French mobile"),
    (f"Llámame al +34 612 {rng.randint(100, 999)} {rng.randint(100, 999)}",
     "phone: Spanish mobile"),
    (f"Numero: +39 347 {digits(7)}", "phone: Italian mobile"),
    (f"Bel me op +31 6 {digits(8)}", "phone: Dutch mobile"),
    (f"Contact: +91 98{digits(8)}", "phone: Indian mobile"),
    (f"Ring reception on +61 2 9{digits(7)}", "phone: Australian landline"),
    (f"https://crm.example.com/callback?phone=%2B1{us_phone()}&src=ads",
     "phone: URL-encoded + in query string"),
    (f"https://forms.example.com/submit?name=Ana&phone=+1{us_phone()}&consent=1",
     "phone: + form in query string"),
    (f"GET /api/v2/lookup?tel={us_phone()}&country=US 200 12ms",
     "phone: bare digits in query string with tel key"),
    (f"SUPPORT_PHONE=+44 20 7946 {rng.randint(1000, 9999)}\nSUPPORT_EMAIL_ENABLED=true",
     "phone: KEY=value config"),
    (f"ALERT_SMS_TO=+1{us_phone()}", "phone: env var without separators"),
    (f"contact:\n  name: Front desk\n  phone: +33 1 {rng.randint(10, 99)} {rng.randint(10, 99)}"
     f" {rng.randint(10, 99)} {rng.randint(10, 99)}\n", "phone: YAML config"),
    (f"phone:({rng.randint(201, 989)}) 555-{rng.randint(1000, 9999)}",
     "phone: key:value without space"),
    (f'{{"customer": {{"mobile": "+4917{digits(9)}"}}}}', "phone: JSON field"),
    (f"<a href=\"tel:+1{us_phone()}\">Call sales</a>", "phone: tel link"),
    (f"Chat with us: https://wa.me/44{uk_mobile().replace(' ', '')}",
     "phone: WhatsApp link"),
    (f"BEGIN:VCARD\nFN:{name()}\nTEL;TYPE=CELL:+1-{rng.randint(201, 989)}-555-"
     f"{rng.randint(1000, 9999)}\nEND:VCARD", "phone: vCard"),
    (f"name,phone\n{name()},+44 {uk_mobile()}\n{name()},+1 {rng.randint(201, 989)} 555 "
     f"{rng.randint(1000, 9999)}", "phone: CSV"),
    (f"2025-03-04T10:22:31Z INFO sms.send to=+1{us_phone()} status=queued",
     "phone: log line key=value"),
    (f"Her number is {rng.randint(201, 989)}-555-{rng.randint(1000, 9999)}.",
     "phone: US dashes in prose"),
    (f"Tel. 030/{digits(8)}", "phone: German slash format"),
    (f"Call +1 {rng.randint(201, 989)} 555 {rng.randint(1000, 9999)} ext. 42 for billing",
     "phone: with extension"),
    (f"https://example.com/c?ref=abc&phone_number=0{rng.randint(7400, 7999)}{digits(6)}",
     "phone: UK national digits in query string"),
    (f"mobile={rng.randint(201, 989)}.555.{rng.randint(1000, 9999)}",
     "phone: dotted after = with phone key"),
]
for text, note in phone_texts:
    add(text, ["phone"], note)

# --- cards ---
card_specs = [
    ("4", 16, (4, 4, 4, 4), "card: Visa grouped"),
    ("4", 16, (), "card: Visa compact"),
    ("51", 16, (4, 4, 4, 4), "card: Mastercard"),
    ("2221", 16, (4, 4, 4, 4), "card: Mastercard 2-series"),
    ("34", 15, (4, 6, 5), "card: Amex"),
    ("37", 15, (), "card: Amex compact"),
    ("6011", 16, (4, 4, 4, 4), "card: Discover"),
    ("3528", 16, (4, 4, 4, 4), "card: JCB"),
    ("36", 14, (4, 6, 4), "card: Diners"),
    ("62", 19, (), "card: UnionPay 19 digits"),
    ("6759", 18, (), "card: Maestro 18 digits"),
]
card_frames = [
    "Please charge {c} for the annual plan.",
    '{{"payment": {{"pan": "{c}", "exp": "08/27"}}}}',
    "order_id,card,amount\n{o},{c},149.00",
    "2025-02-11 14:03:55 WARN payment declined card={c} reason=insufficient_funds",
    "Customer read me their card over the phone: {c}, expiry 11/26.",
]
for prefix, length, sizes, note in card_specs:
    c = card(prefix, length)
    shown = group(c, sizes, rng.choice([" ", "-"])) if sizes else c
    frame = rng.choice(card_frames)
    add(frame.format(c=shown, o=rng.randint(10000, 99999)), ["card"], note)
possible_card_specs = [
    ("7", 16, "card: fleet/private-label card (prefix 7)"),
    ("8", 16, "card: unknown issuer prefix 8"),
    ("9", 16, "card: national scheme prefix 9"),
    ("4", 17, "card: Visa prefix with a digit typed twice (17 digits)"),
    ("5", 18, "card: odd length 18"),
    ("1", 15, "card: UATP airline card"),
    ("2", 12, "card: 12-digit card number"),
    ("9", 19, "card: 19-digit unknown issuer"),
]
for prefix, length, note in possible_card_specs:
    c = card(prefix, length)
    frame = rng.choice(card_frames)
    add(frame.format(c=c, o=rng.randint(10000, 99999)), ["card"], note)
add(f"https://pay.example.com/checkout?card={card('4', 16)}&cvv=123", ["card"],
    "card: in a query string")
add(f"Card: {group(card('5', 16), (4, 4, 4, 4), '.')}", ["card"],
    "card: dotted groups")
add(f"store card ending 4242? no, the full one is {card('4', 16)}", ["card"],
    "card: in chat prose")

# --- IBANs ---
iban_specs = [
    ("DE", "37040044" + digits(10)), ("GB", "NWBK601613" + digits(8)),
    ("FR", "20041010050500013" + "M02606"), ("NL", "ABNA0" + digits(9)),
    ("ES", "2100041845" + digits(10)), ("IT", "X0542811101" + digits(12)),
    ("BE", "539" + digits(9)), ("AT", "19043" + digits(11)), ("PL", digits(24)),
    ("SE", "500" + digits(17)), ("CH", "0076" + digits(13)), ("IE", "AIBK931152" + digits(8)),
]
iban_frames = [
    "Please wire the refund to IBAN {i} (account holder {n}).",
    "Bankverbindung: {n}, IBAN: {i}",
    "supplier,iban,amount\n{n},{i},1200.00",
    '{{"payout": {{"iban": "{i}", "name": "{n}"}}}}',
]
for country, bban in iban_specs:
    i = iban(country, bban)
    shown = spaced(i) if rng.random() < 0.5 else i
    add(rng.choice(iban_frames).format(i=shown, n=name()), ["iban"], f"IBAN: {country}")

# --- national ids ---
nid = [
    (f"Employee SSN: {ssn()}", "US SSN"),
    (f"ssn,name\n{ssn()},{name()}", "US SSN in CSV"),
    (f"Her social security number is {ssn().replace('-', '')}.", "US SSN without dashes"),
    (f"National Insurance number: {nino()}", "UK NINO compact"),
    (f"NI no. {' '.join([(n := nino())[:2], n[2:4], n[4:6], n[6:8], n[8]])}",
     "UK NINO spaced"),
    (f"DNI del cliente: {dni()}", "Spanish DNI"),
    (f"nombre;dni;ciudad\n{name()};{dni()};Madrid", "Spanish DNI in CSV"),
    (f"NIE {nie()} caduca en marzo", "Spanish NIE"),
    (f"Codice fiscale: {codice_fiscale()}", "Italian codice fiscale"),
    (f"Il mio CF è {codice_fiscale().lower()}", "Italian codice fiscale lower case"),
    (f"Henkilötunnus {hetu()}", "Finnish HETU"),
    (f"Personnummer: {personnummer()}", "Swedish personnummer"),
    (f"kund {name()}, {personnummer()}, Göteborg", "Swedish personnummer without label"),
    (f"Numéro de sécurité sociale : {nir()}", "French NIR spaced"),
    (f"NIR {nir().replace(' ', '')}", "French NIR compact with label"),
    (f"BSN: {bsn()}", "Dutch BSN with label"),
    (f"burgerservicenummer {bsn()} van de aanvrager", "Dutch BSN in sentence"),
    (f"PESEL {pesel()}", "Polish PESEL"),
    (f"Steuer-ID: {idnr()}", "German tax id"),
    (f"Steuerliche Identifikationsnummer {idnr()}", "German tax id long label"),
    (f"CPR-nr. {cpr()}", "Danish CPR"),
    (f"Rijksregisternummer: {be_nn()}", "Belgian national number formatted"),
    (f"{name()}, {be_nn()}, Gent", "Belgian national number without label"),
    (f"AHV-Nr. {ahv()}", "Swiss AHV"),
    (f"CNP {cnp()}", "Romanian CNP"),
    (f"NIF {pt_nif()}", "Portuguese NIF"),
    (f"employee_id,ssn\n{rng.randint(100, 999)},{ssn()}", "US SSN in HR export"),
    (f"Applicant: {name()}\nDOB: 1985-04-12\nSSN {ssn()}\nStatus: pending",
     "US SSN in a form"),
]
for text, note in nid:
    add(text, ["national_id"], f"national id: {note}")

# --- IP addresses ---
ips = [
    (f"ssh deploy@{rng.randint(11, 199)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
     f"{rng.randint(1, 254)} -p 2222", "IPv4 in ssh command"),
    (f'{rng.randint(11, 199)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}'
     ' - - [10/Oct/2025:13:55:36 +0000] "GET /pricing HTTP/1.1" 200 2326',
     "IPv4 in access log"),
    ("upstream app { server 10.0.3.17:8080; server 10.0.3.18:8080; }", "IPv4 in nginx config"),
    ("DATABASE_HOST=172.16.40.9", "IPv4 in env file"),
    ("X-Forwarded-For: 203.0.113.195, 70.41.3.18", "IPv4 in header"),
    ("The client 2001:db8:85a3::8a2e:370:7334 keeps timing out", "IPv6 compressed"),
    ("curl -g 'http://[fe80::1ff:fe23:4567:890a]:8080/health'", "IPv6 in URL"),
    ("allowlist: [\"198.51.100.0/24\", \"192.0.2.44\"]", "IPv4 CIDR allowlist"),
    ("Failed password for root from 45.33.32.156 port 40012 ssh2", "IPv4 in auth log"),
    ("ip,country\n81.2.69.160,GB\n2.125.160.216,GB", "IPv4 in CSV"),
    ("my home IP is 86.12.201.7, can you whitelist it?", "IPv4 in chat"),
    ("resolv.conf: nameserver 1.1.1.1", "IPv4 public resolver"),
]
for text, note in ips:
    add(text, ["ip_address"], note)

# --- secrets: vendor tokens (mostly beyond the hand-listed prefixes) ---
vendor = [
    ("SHOPIFY_ACCESS_TOKEN=shpat_" + hexs(32), "Shopify admin token"),
    ("Here's our Shopify custom app secret: shpss_" + hexs(32), "Shopify shared secret"),
    ("DIGITALOCEAN_TOKEN=dop_v1_" + hexs(64), "DigitalOcean token"),
    ("sendgrid:\n  api_key: SG." + b62(22) + "." + b62(43), "SendGrid key"),
    ("TWILIO_API_KEY=SK" + hexs(32), "Twilio API key"),
    ("npm config set //registry.npmjs.org/:_authToken npm_" + b62(36), "npm token"),
    ("password = pypi-AgEIcHlwaS5vcmc" + b62(60), "PyPI upload token"),
    ("GITLAB_TOKEN=glpat-" + b62(20), "GitLab PAT"),
    ("doppler secrets: dp.pt." + b62(43), "Doppler token"),
    ("LINEAR_API_KEY=lin_api_" + b62(40), "Linear key"),
    ("postman key PMAK-" + hexs(24) + "-" + hexs(34), "Postman key"),
    ("export VAULT_TOKEN=hvs." + b62(90), "Vault token"),
    ("DD_API_KEY: datadog key is " + hexs(32), "Datadog API key with context"),
    ("slack:\n  bot: xoxb-" + digits(12) + "-" + digits(13) + "-" + b62(24),
     "Slack bot token"),
    ("NEW_RELIC_API_KEY=NRAK-" + upper_alnum(27), "New Relic user key"),
    ("sentry auth token: sntrys_eyJpYXQiO" + b62(40) + "LCJyZWdpb25fdXJs" + b62(40) + "==",
     "Sentry org token"),
    ("grafana_token = glsa_" + b62(32) + "_" + hexs(8), "Grafana service account token"),
    ("HF_TOKEN=hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34)),
     "Hugging Face token (letters only)"),
    ("OPENAI_API_KEY=sk-proj-" + b62(58) + "T3BlbkFJ" + b62(58), "OpenAI project key"),
    ("anthropic: sk-ant-api03-" + b62(93) + "AA", "Anthropic key"),
    ("databricks host token dapi" + hexs(32), "Databricks token"),
    ("AGE-SECRET-KEY-1" + "".join(rng.choice("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L")
                                  for _ in range(58)), "age secret key"),
    ("aws configure set aws_access_key_id AKIA" + "".join(
        rng.choice(string.ascii_uppercase + "234567") for _ in range(16)), "AWS key id"),
    ("mailgun_api_key = key-" + hexs(32), "Mailgun key"),
    ("const stripe = Stripe('rk_live_" + b62(24) + "');", "Stripe restricted key"),
    ("pulumi login: pul-" + hexs(40), "Pulumi token"),
    ("TELEGRAM_BOT_TOKEN=" + digits(10) + ":AA" + b62(33), "Telegram bot token"),
    ("FLY_API_TOKEN=fo1_" + b62(43), "Fly.io token"),
    ("Authorization: Bearer " + b62(40), "Bearer token header"),
    ("postgres://app_user:" + b62(16) + "@db.internal.example.com:5432/prod",
     "password in database URL"),
    ("DB_PASSWORD='Tr1cky!Pass#2025'", "password in env file"),
    ("client_secret: " + lower_alnum(40), "client secret in YAML"),
    ('"api_key": "' + hexs(32) + '"', "hex API key in JSON"),
    ("the webhook secret is whsec_" + b62(32), "Stripe webhook secret"),
    ("heroku config:set HEROKU_API_KEY=" + hexs(8) + "-" + hexs(4) + "-" + hexs(4) + "-"
     + hexs(4) + "-" + hexs(12), "Heroku API key (UUID after key name)"),
]
for text, note in vendor:
    add(text, ["api_key"], f"secret: {note}")

# --- private keys ---
for label in ("RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"):
    body = "\n".join(
        "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(64))
        for _ in range(4))
    add(f"Why does ssh say 'invalid format'?\n-----BEGIN {label}-----\n{body}\n"
        f"-----END {label}-----", ["private_key"], f"private key: {label}")
add("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + "\n".join(
    "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(64))
    for _ in range(3)) + "\n-----END PGP PRIVATE KEY BLOCK-----", ["private_key"],
    "private key: PGP")

# --- mixed records ---
for _ in range(6):
    n = name()
    add(f"Ticket #{rng.randint(10000, 99999)} from {n}: card {group(card('4', 16), (4, 4, 4, 4))} "
        f"was charged twice, reach me at +1 {rng.randint(201, 989)} 555 {rng.randint(1000, 9999)}",
        ["card", "phone"], "mixed: support ticket")
    add(f"KYC row: {n}; {email()}; IBAN {iban('DE', '37040044' + digits(10))}; "
        f"Steuer-ID {idnr()}", ["email", "iban", "national_id"], "mixed: KYC row")

# =======================================================================================
# NEGATIVES
# =======================================================================================

neg: list[tuple[str, str]] = []
for _ in range(12):
    y, m, d = rng.randint(2019, 2027), rng.randint(1, 12), rng.randint(1, 28)
    neg.append((rng.choice([
        f"The migration ran on {y}-{m:02d}-{d:02d} and again on {d:02d}/{m:02d}/{y}.",
        f"Q{rng.randint(1, 4)} {y}: sessions up {rng.randint(2, 40)}% from {d}.{m}.{y}.",
        f"Deadline {m}/{d}/{y} at {rng.randint(1, 12)}:{rng.randint(10, 59)} pm EST.",
        f"Crawl finished {y}-{m:02d}-{d:02d}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:"
        f"{rng.randint(10, 59)}Z after {rng.randint(2, 9)}h.",
    ]), "dates and times"))
for _ in range(10):
    neg.append((rng.choice([
        f"The tool costs ${rng.randint(1, 9)},{rng.randint(100, 999)}.{rng.randint(10, 99)} "
        f"a year, or €{rng.randint(10, 99)},{rng.randint(10, 99)} per month.",
        f"Revenue grew from {rng.randint(1, 9)},{rng.randint(100, 999)},{rng.randint(100, 999)} "
        f"to {rng.randint(1, 9)},{rng.randint(100, 999)},{rng.randint(100, 999)} USD.",
        f"Budget: {rng.randint(10, 99)} 000 EUR for content, {rng.randint(1, 9)} 500 EUR for "
        "links.",
        f"CPC dropped to ${rng.randint(0, 3)}.{rng.randint(10, 99)} and CTR rose to "
        f"{rng.randint(1, 9)}.{rng.randint(1, 9)}%.",
    ]), "prices and amounts"))
for _ in range(8):
    neg.append((rng.choice([
        f"Upgrade from Python 3.{rng.randint(8, 12)}.{rng.randint(0, 15)} to "
        f"3.{rng.randint(12, 14)}.{rng.randint(0, 5)} and Django {rng.randint(3, 5)}."
        f"{rng.randint(0, 2)}.",
        f"Windows build 10.0.{rng.randint(19041, 22631)}.{rng.randint(1000, 4000)} crashes.",
        f"Chrome/{rng.randint(110, 131)}.0.{rng.randint(5000, 6999)}.{rng.randint(10, 200)} "
        "renders the carousel wrong.",
        f"pip install requests=={rng.randint(2, 2)}.{rng.randint(28, 32)}.{rng.randint(0, 3)} "
        f"urllib3=={rng.randint(1, 2)}.{rng.randint(0, 26)}.{rng.randint(0, 18)}",
    ]), "version numbers"))
# Order / invoice / ticket / tracking numbers: random digits, not filtered by Luhn.
for _ in range(14):
    length = rng.choice([8, 9, 10, 12, 13, 14, 15, 16])
    neg.append((rng.choice([
        f"Order #{digits(length)} shipped yesterday; can you draft the delay e-mail copy?",
        f"Invoice {digits(length)} is overdue by {rng.randint(3, 40)} days.",
        f"Ticket {digits(length)}: the canonical tag points at the wrong page.",
        f"order_id,total\n{digits(length)},{rng.randint(10, 500)}.{rng.randint(10, 99)}\n"
        f"{digits(length)},{rng.randint(10, 500)}.{rng.randint(10, 99)}",
    ]), f"order/invoice/ticket number ({length} digits)"))
for _ in range(4):
    neg.append((f"UPS tracking 1Z{upper_alnum(16)}"
                f" and USPS 9400 1{digits(3)} {digits(4)} {digits(4)} {digits(4)} {digits(2)}",
                "tracking numbers"))
for _ in range(4):
    isbn12 = "978" + "".join(rng.choice(string.digits) for _ in range(9))
    total = sum((3 if i % 2 else 1) * int(c) for i, c in enumerate(isbn12))
    isbn = isbn12 + str((10 - total % 10) % 10)
    neg.append((f"Cite the book (ISBN {isbn[:3]}-{isbn[3]}-{isbn[4:7]}-{isbn[7:12]}-{isbn[12]}) "
                f"and the compact form {isbn} in the references.", "ISBN"))
for _ in range(4):
    ean12 = rng.choice(["40", "50", "87", "76"]) + "".join(
        rng.choice(string.digits) for _ in range(10))
    total = sum((3 if i % 2 else 1) * int(c) for i, c in enumerate(ean12))
    neg.append((f"Product feed: EAN {ean12 + str((10 - total % 10) % 10)}, "
                f"SKU TR-{rng.randint(100, 999)}-BLK, stock {rng.randint(1, 99)}.", "EAN barcode"))
for _ in range(6):
    ms = rng.randint(1_600_000_000_000, 1_790_000_000_000)
    neg.append((rng.choice([
        f"The event timestamp is {ms} (ms) and the session started at {ms // 1000}.",
        f'{{"ts": {ms}, "event": "page_view", "duration_ms": {rng.randint(100, 9000)}}}',
        f"cache key built at {ms * 1000} microseconds",
    ]), "epoch timestamps"))
for _ in range(5):
    neg.append((f"Attach the policy to arn:aws:iam::{digits(12)}:role/seo-crawler-"
                f"{rng.choice(['prod', 'staging'])} in account {digits(12)}.",
                "AWS account ids"))
for _ in range(8):
    neg.append((rng.choice([
        f"Revert commit {hexs(40)} - it broke the sitemap.",
        f"Cherry-pick {hexs(7)} and {hexs(7)} onto release.",
        f"image: ghcr.io/acme/crawler@sha256:{hexs(64)}",
        f"The file's sha256 is {hexs(64)}; md5 {hexs(32)}.",
    ]), "git SHAs and digests"))
for _ in range(6):
    u = f"{hexs(8)}-{hexs(4)}-4{hexs(3)}-{rng.choice('89ab')}{hexs(3)}-{hexs(12)}"
    neg.append((rng.choice([
        f"Request {u} timed out after 30 s.",
        f"trace_id={u} span=render status=ok",
        f"The project id is {u}; share the dashboard link with the team.",
    ]), "UUIDs"))
phone_like = [
    ("Join the Zoom meeting: ID 845 2291 7730, passcode in the invite.", "meeting id"),
    ("Microsoft Teams meeting ID: 263 841 550 917", "Teams meeting id"),
    ("We made 1 234 567 impressions and 45 678 clicks.", "space-separated thousands"),
    ("Call the function 3 times, 250 ms apart, then retry 5 times.", "call in code talk"),
    ("Our phone support SLA is 4 hours; call volume rose 12% to 3,480 calls.",
     "phone words without a number"),
    ("Phone screens: 1080x2400, 1170x2532 and 1440x3200 pixels.", "screen resolutions"),
    ("Contact rate was 0.42 and reach 120000 users.", "contact/reach without phone"),
    ("Text ad #3 got 2,451 impressions at position 1.8.", "text ad stats"),
    ("Tel Aviv and Telford pages rank 3 and 7.", "place names"),
    ("ZIP codes 94105, 10001 and 60614 had the most sessions.", "ZIP codes"),
    ("Coordinates: 51.507351, -0.127758 and 48.856613, 2.352222.", "coordinates"),
    ("SIRET 732 829 320 00074 is on the vendor's public invoice footer.",
     "French company number (public)"),
    ("DUNS 15-048-3782 belongs to the vendor.", "DUNS company id"),
    ("Page 14 of 120, figure 3.2.1, table 4.5.6.7.", "numbering"),
    ("Port 8080 → 8443, timeout 30000 ms, retries 3.", "ports and timeouts"),
    ("Call me maybe: 555-0100 is the classic fake, but I mean the song.",
     "seven-digit fake number"),
    ("Set phone_regex = r'\\+?[0-9 ()-]{7,}' in the validator.", "phone regex"),
    ("Use placeholder +1 (XXX) XXX-XXXX in the form.", "phone placeholder"),
]
for text, note in phone_like:
    neg.append((text, f"phone-like: {note}"))
vendor_prose = [
    "Largest contentful paint is 3.1 s on mobile; the contentful paint of the hero image "
    "is the bottleneck, see https://web.dev/articles/lcp-lazy-loading-2024-update.",
    "Our Facebook, LinkedIn and Twitter campaigns drove 12% of sessions; the Shopify store "
    "converted at 2.4% (https://shop.example.com/collections/summer-sale-2025).",
    "Compare HubSpot, Mailchimp and Intercom pricing for 10,000 contacts.",
    "Send the Looker Studio dashboard and the Zendesk ticket export to the team.",
    "We use Stripe, Twilio and SendGrid; which of them has the best uptime in 2025?",
    "The Slack channel #seo-alerts posts every crawl; Discord is for the community.",
    "Okta SSO is required for the Jira and Confluence instances.",
    "Our Dropbox folder /marketing/2025/briefs has 42 files.",
    "Snowflake, Databricks and BigQuery all support this; Sentry catches the errors.",
    "The Heroku dynos restart nightly at 03:00 UTC; Netlify hosts the docs.",
    "GitHub Actions failed on step 4 of 7; GitLab CI passed in 3m12s.",
    "Ask the Algolia team why the search index has 123456 records but only 98765 visible.",
    "Segment, Amplitude and Mixpanel each count 1,204 daily users differently.",
    "Is Cloudflare's free plan enough for 2 million requests a month?",
    "Mapbox vs Google Maps: the map tiles cost $0.50 per 1,000 loads.",
]
for text in vendor_prose:
    neg.append((text, "vendor names in prose"))
placeholder_code = [
    'client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])',
    "export STRIPE_SECRET_KEY=sk_live_<your-key-here>",
    "SHOPIFY_ACCESS_TOKEN=shpat_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "Set GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }} in the workflow.",
    "Authorization: Bearer <token>",
    "api_key: YOUR_API_KEY_HERE",
    "password: ********",
    "DB_PASSWORD=changeme",
    "token = get_token()  # fetched at runtime",
    'headers = {"Authorization": f"Bearer {token}"}',
    "aws_access_key_id = AKIAXXXXXXXXXXXXXXXX",
    "The key rotation policy is 90 days; tokens expire after 3600 seconds.",
    "Set max_tokens=4096 and temperature=0.2 for the summariser.",
    "The primary key of the pages table is (site_id, url_hash).",
    "Store the session secret in the vault, never in the repo.",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHqP3g2Zk7vWb1n4sL8yR6cT0dE5fJ9mK2aX7uQ3wV1o ci@build",
    "keyword,volume,kd\nseo audit,2400,34\nlink building,5400,61",
]
for text in placeholder_code:
    neg.append((text, "code and config without secrets"))
for _ in range(6):
    neg.append((rng.choice([
        f"https://www.youtube.com/watch?v={b62(11)}&t={rng.randint(10, 900)}s is the tutorial.",
        f"GA4 property G-{upper_alnum(10)}"
        f" and the old UA-{rng.randint(10000000, 99999999)}-{rng.randint(1, 9)}.",
        f"https://example.com/products/{rng.randint(100000, 999999)}?utm_source=google&"
        f"utm_medium=cpc&utm_campaign=spring_{rng.randint(2024, 2026)}&gclid=EAIaIQ",
        f"Slack channel C{upper_alnum(10)}"
        " is archived.",
    ]), "public ids and URLs"))
misc = [
    "Summarise the attached audit: 1,204 thin pages, 37 redirect chains, 12 orphan pages.",
    "Write a polite follow-up to the client about the overdue content brief.",
    "Which of the 2024-2025 algorithm updates hit product pages hardest?",
    "Rewrite the H1 for /blog/link-building-guide-2025 to be under 60 characters.",
    "Explain what a 301 vs 302 redirect means for link equity.",
    "Give me 10 title ideas for a post about internal linking.",
    "The sitemap has 48213 URLs, the crawl found 47990, and 223 are orphans.",
    "Convert 3.5 GB to MiB and 1,048,576 bytes to MB.",
    "Sort these by volume: seo audit 2400, site audit 1900, technical seo 8100.",
    "Is 4.2 seconds LCP bad? The median in our niche is 2.8 s.",
    "Chemical formula C8H10N4O2 (caffeine) has a molar mass of 194.19 g/mol.",
    "Sections 2.1, 2.1.3 and 4.1.2.3 of the spec cover retries.",
    "The hex colour #1a2b3c and rgb(26, 43, 60) are the same.",
    "Room 4B, floor 12, building 3 - the workshop starts at 09:30.",
    "Bug 1843322 in the tracker was closed as a duplicate of 1843301.",
    "The regression: y = 0.0042x + 17.3, R² = 0.87 over 1826 days.",
    "Latitude 59.3293, longitude 18.0686 is Stockholm.",
    "Sequence: 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144.",
    "Amazon ASIN B08N5WRWNW has 4.6 stars over 12,345 ratings.",
    "Flight LH 2024 departs 14:35 from gate B42.",
]
for text in misc:
    neg.append((text, "ordinary analyst prompt"))
for _ in range(20):
    a, b = rng.randint(1000, 90000), rng.randint(1000, 90000)
    neg.append((rng.choice([
        f"Organic sessions went from {a:,} to {b:,} between week {rng.randint(1, 26)} and "
        f"week {rng.randint(27, 52)}.",
        f"Of {a} crawled URLs, {rng.randint(10, 999)} returned 404 and {rng.randint(10, 999)} "
        "returned 5xx.",
        f"The page ranks #{rng.randint(1, 20)} for {rng.randint(5, 400)} keywords with "
        f"{rng.randint(100, 9000)} monthly searches.",
        f"Reduce the {rng.randint(2, 9)} MB hero image to under {rng.randint(100, 400)} KB.",
        f"The A/B test ran {rng.randint(7, 30)} days with {a} and {b} visitors per arm.",
    ]), "ordinary analyst numbers"))
# Ids that are not personal, next to words that sound like identity documents.
for _ in range(6):
    neg.append((rng.choice([
        f"Customer ID number {digits(9)} asked for a refund.",
        f"Order ID no. {digits(11)} is stuck in the warehouse.",
        f"Product id code {digits(10)} maps to the wrong category.",
        f"Document {digits(9)} (contract draft v3) needs a second review.",
    ]), "business ids next to id words"))
for _ in range(6):
    neg.append((rng.choice([
        f"https://shop.example.com/search?q=shoes&page={rng.randint(2, 40)}&per_page=100"
        f"&id={digits(10)}&sort=desc",
        f"GET /api/orders?user_id={digits(10)}&limit=50&offset={rng.randint(0, 500)} 200",
        f"https://example.com/landing?fbclid=IwAR{b62(40)}&utm_source=facebook",
        f"timeout=30000&retries=3&ts={rng.randint(1_600_000_000_000, 1_790_000_000_000)}",
        f"https://www.google.com/maps/@{rng.randint(40, 59)}.{digits(7)},"
        f"{rng.randint(1, 20)}.{digits(7)},15z",
    ]), "URLs and query strings with numbers"))
for text, note in neg:
    add(text, [], f"public: {note}")


def main() -> None:
    texts = set()
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            if row["text"] in texts:
                continue
            texts.add(row["text"])
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    private = sum(r["private"] for r in rows)
    print(f"wrote {len(texts)} records ({private} private) to {OUT}")


if __name__ == "__main__":
    main()
