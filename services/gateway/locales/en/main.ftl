# Passerelle — the site, in English.

language-name = English
skip-to-content = Skip to content
nav-label = Tools
finish = I am done
footer-help = Need help? An agent at the CCAS desk can help you.
idle-warning = Without any action, you will be signed out in { $time }.
back-home = Back to the start
back-papers = Back to my papers
download = Download
print = Print

# Sign-in
sign-in-title = Sign in
pin-title = Sign in with my code
sign-in = Sign in
username = My username
username-hint = It is written on your Passerelle sheet. For example: soleil-lavande-4821.
secret = My password
secret-hint = At least 8 characters.
pin = My 6-digit code
pin-hint = Type your 6 digits.
pin-erase = Erase the last digit
use-pin = I have a 6-digit code
use-password = I have a password
open-share-link = I have a sharing code
sign-in-lost = Lost your code? Come to the CCAS desk with your sheet or an identity document.
sign-in-missing = Write your username and your code.
sign-in-wrong = The username or the code is not right. Check and try again.
sign-in-wait = Too many tries. Try again in { $minutes ->
    [one] 1 minute
   *[other] { $minutes } minutes
}.
sign-in-oidc-intro = Sign in with your city account.
sign-in-oidc = Sign in
signed-out = You are signed out. You can leave the computer.
sign-out-everywhere = Sign me out on every device

# My papers
papers-title = My papers
papers-count = { $count ->
    [0] No document
    [one] 1 document
   *[other] { $count } documents
}
papers-empty = You have no document yet. An agent can scan them for you.
paper-title = My document
expires-on = Valid until { $date }
expired-since = Expired since { $date }
issued-on = Issued on { $date }
size-kb = { $size } KB
size-mb = { $size } MB
type-identity-card = Identity card
type-passport = Passport
type-residence-permit = Residence permit
type-carte-vitale = Carte Vitale (health card)
type-tax-notice = Tax notice
type-france-travail = France Travail certificate
type-caf = CAF certificate
type-proof-of-address = Proof of address
type-domiciliation = Domiciliation certificate
type-cv = CV
type-payslip = Payslip
type-other = Other document
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
days = { $count ->
    [one] 1 day
   *[other] { $count } days
}

# Sharing
share-title = Share this document
share-intro = You get a code. Give it to the person who needs to see the document. The code works for a few days.
share-recipient = For whom? (optional)
share-recipient-hint = For example: town hall, CAF, employer.
share-days = For how long?
share-make = Make a code
share-days-invalid = Choose 1, 3 or 7 days.
share-made-title = Your sharing code
share-code-is = Give this code:
share-until = It works until { $date }.
share-for = For: { $who }
share-qr = The same code as a QR code, to show on the screen.
share-once = This code will not be shown again. Write it down or print this page.

# Opening a share
share-open-title = Open a shared document
share-open-intro = Someone gave you a code to see a document. Type it here.
share-code = The code
share-code-hint = For example: 7KQ4-M2XD-9PWA.
share-open = See the document
share-open-until = You can download these documents until { $date }.
share-code-missing = Write the code.
share-code-wrong = This code does not work. It may be mistyped or too old.

# Agents' desk
desk-title = Find a person
search-person = Name, first name or username
search-person-hint = Part of it is enough. Accents do not matter.
birth-date = Date of birth (optional)
date-hint = For example: 14/03/1961.
search = Search
search-results = { $count ->
    [0] Nobody found
    [one] 1 person found
   *[other] { $count } people found
}
search-none = Nobody matches. Check the spelling or search by date of birth.
search-more = More people match: make the search more precise.
search-invalid = Write part of the name or a valid date of birth (day/month/year).
born-on = born on { $date }

# Errors
error-title = A problem
error-detail = Technical detail
error-denied = You do not have access to this page. If you think this is a mistake, ask an agent.
error-not-found = This document or this person does not exist, or no longer.
error-page-not-found = This page does not exist. Check the address.
error-form-expired = This form has expired. Go back, reload the page and start again.
error-wait = Too many tries. Try again in { $minutes ->
    [one] 1 minute
   *[other] { $minutes } minutes
}.
error-full = The limit is reached. Try again later or ask an agent.
error-invalid = Some information is not accepted. Check and start again.
error-unavailable = The service is not answering right now. Try again in a few minutes.
error-internal = Something went wrong. Try again. If it goes on, tell an agent.
