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
error-form-only = This page opens from a form. Go back, or start again from the home page.
error-form-expired = This form has expired. Go back, reload the page and start again.
error-wait = Too many tries. Try again in { $minutes ->
    [one] 1 minute
   *[other] { $minutes } minutes
}.
error-full = The limit is reached. Try again later or ask an agent.
error-invalid = Some information is not accepted. Check and start again.
error-unavailable = The service is not answering right now. Try again in a few minutes.
error-internal = Something went wrong. Try again. If it goes on, tell an agent.

# Menus
menu-label = Menu
menu-find = Find a person
menu-new-person = New person
menu-recovery = Recovery (2nd agent)
menu-staff = Staff accounts

# A person (agents)
person-title = A person
person-new-title = Create an account
person-new-intro = The person is next to you. They need no e-mail address.
given-name = First name
family-name = Last name
phone = Mobile phone (optional)
phone-hint = To receive codes by SMS. For example: 06 12 34 56 78.
language = The person's language
username-choose = Username (optional)
username-choose-hint = Leave it empty: Passerelle picks an easy one.
pin-choose = 6-digit secret code
pin-choose-hint = The person chooses it and types it. Not 123456, nor the same digit 6 times.
person-create = Create the account
person-username = Username
person-names-missing = Write the first and last name.
person-pin-invalid = The code must have 6 digits.
person-pin-weak = This code is too easy to guess. Choose 6 other digits.
person-phone-invalid = This phone number is not recognised. Example: 06 12 34 56 78.
person-birth-invalid = This date of birth is not valid. Example: 14/03/1961.
person-username-invalid = This username is not accepted: letters without accents, digits, dots or dashes.
person-username-taken = This username is taken. Choose another or leave it empty.
sheet-title = The person's sheet
sheet-intro = Print this sheet and give it to the person. It lets them back into their account without e-mail.
sheet-code = Recovery code
sheet-qr = The sheet's QR code
sheet-keep = This code will not be shown again. The person keeps the sheet somewhere safe.
sheet-pdf = Download the sheet to print (PDF)
sheet-continue = Continue with this person
sheet-gone = This sheet is no longer available. A new sheet comes with a recovery.
mandates-title = Agreements (mandates)
mandates-none = Your structure has no agreement from this person.
mandate-until = Until { $date }
mandate-ended = Ended
mandate-renew = Extend by 6 months
mandate-revoke = Stop
mandate-new = Record an agreement
consent-in-person = signed at the desk
consent-sms = accepted by SMS
consent-self = given by the person
documents-title = Their documents
documents-none = No document yet.
documents-need-mandate = To see or add their documents, you need the person's agreement for "their papers".
done-mandate = The agreement is recorded.
done-renewed = The agreement is extended.
done-revoked = The agreement is stopped. Your structure has no access any more.
done-uploaded = The documents are saved.
back-person = Back to the person

# Agreements
mandate-title = An agreement from the person
mandate-what = What does the person agree to?
mandate-how-long = For how long?
mandate-here = The person is here
mandate-by-sms = Send them a code by SMS
mandate-no-scope = Tick at least one box.
mandate-summary = What the person agrees to
mandate-summary-intro = Read it together. The person agrees that { $who } may:
mandate-summary-end = The person can stop this agreement whenever they want, in Passerelle or at the desk.
mandate-sign-draw = Signature (with a finger or the mouse)
mandate-sign-clear = Clear the signature
mandate-sign-typed = Or: the person writes their first and last name
mandate-sign-typed-hint = Only if they cannot sign on the screen.
mandate-secret = The person's secret code
mandate-secret-hint = The person types it. It shows they are here and agree.
mandate-confirm = Confirm the agreement
mandate-unsigned = The signature is missing, or the name written by the person.
mandate-secret-wrong = The person's code is not right. They can try again.
mandate-sms-title = Agreement by SMS
mandate-sms-sent = A code was sent by SMS to { $who }.
mandate-sms-code = The code the person received
mandate-sms-wrong = This code is not right. The person can read it again and retry.
mandate-sms-impossible = SMS is not possible for this person (no phone, or no SMS service).
scope-documents = their papers (see, add, share)
scope-procedures = their procedures and details
scope-pathways = their digital pathway
scope-alerts = alerts (heatwave, cold)
scope-interpreting = interpreting
scope-unknown = other
summary-documents = see their papers, add some and share them with a code;
summary-procedures = help with their procedures and correct their details;
summary-pathways = follow their pathway to learn digital skills;
summary-alerts = register them for heatwave and cold alerts;
summary-interpreting = book an interpreter for them;
duration-day = For 1 day.
duration-month = For 1 month.
duration-six-months = For 6 months.
duration-year = For 1 year.

# Adding documents
upload-title = Add documents
upload-files = The files (or a photo)
upload-files-hint = PDF, photos, Word or LibreOffice documents. Up to 8 files, { $size } MB each.
upload-type = Which document?
upload-name = Name of the document (optional)
upload-expires = End of validity (optional)
upload-expires-hint = Passerelle warns 30 days before.
upload-send = Save
upload-progress = Sending
upload-none = Choose at least one file.
upload-too-many = At most { $count } files at a time.
upload-too-large = A file is too big: { $size } MB at most.
upload-broken = The sending was cut. Try again.
upload-busy = Many uploads right now. Try again in a minute.
upload-type-refused = This type of file is not accepted. Accepted: PDF, photos (JPEG, PNG, HEIC…) and Word or LibreOffice documents.
upload-date-invalid = The date is not valid.

# Procedures
checklist-title = Papers for a procedure
checklist-pick = Which procedure?
checklist-see = See what is needed
checklist-complete = Everything is there for this procedure.
check-ok = Present
check-missing = Missing
check-expired = Expired
check-obsolete = Replaced by a newer one
check-too-old = Too old

# Recovery at the desk
recovery-title = Recover an account
recovery-start = The person lost their code
recovery-intro = The person is here. They show their Passerelle sheet or an identity document. A second agent will confirm.
recovery-sheet-code = The code on their sheet
recovery-or = Or
recovery-document = The identity document
recovery-document-number = The number on the document
recovery-document-hint = Look at the document yourself too, and type its number.
recovery-note = Note (optional)
recovery-begin = Ask for the recovery
recovery-no-proof = Write the sheet's code or the identity document's number.
recovery-number = Recovery number
recovery-second-agent = Give this number to a second agent of your structure, before { $date }. They open "Recovery (2nd agent)".
recovery-approve-title = Confirm a recovery
recovery-approve-intro = You are the second agent. Look at the person's identity document. They choose their new code.
recovery-approve = Confirm and print the new sheet
recovery-document-mismatch = The document's number does not match. Check with the person.
recovery-done = The account is recovered.
document-driving-licence = Driving licence
document-asylum = Asylum-seeker certificate

# Who helps me
helpers-title = Who helps me
helpers-who = The structures that can help me
helpers-nobody = Nobody can act for you.
helpers-withdraw = Withdraw my agreement
helpers-withdrawn = Your agreement is withdrawn. This structure has no access any more.
helpers-done = What was done for me
helpers-nothing = Nothing yet.
helpers-when = When
helpers-by = Who
helpers-what = What
act-by-you = You
act-by-structure = { $who }
act-upload = added a document
act-download = downloaded a document
act-read-documents = looked at your documents
act-update-document = changed a document
act-delete-document = deleted a document
act-share = shared a document
act-unshare = stopped a share
act-read-shares = looked at your shares
act-checklist = checked the papers of a procedure
act-mandate = recorded your agreement
act-mandate-renewed = extended your agreement
act-mandate-revoked = stopped an agreement
act-read-account = looked at your details
act-update-account = changed your details
act-recovery = recovered your account with you
act-recovery-code = account recovered with the sheet
act-act-as = acted in your name
act-pathway = followed your digital pathway
act-other = other action

# My code
secret-title = My code
secret-current = My current code
secret-new = My new code
secret-new-hint = 6 digits, or a password of at least 8 characters.
secret-again = Once more
secret-change = Change my code
secret-done = Your code is changed.
secret-mismatch = The two new codes are not the same.
secret-current-wrong = Your current code is not right.
secret-refused = This code is not accepted: too easy to guess or too short.

# Staff accounts
staff-title = Staff accounts
staff-role = Role
staff-structure = Structure
staff-structure-hint = Where the person works.
staff-password = Password
staff-password-hint = At least 12 characters.
staff-create = Create the account
staff-made = The account { $who } is created.
role-agent = Agent
role-volunteer = Volunteer
role-manager = Manager
role-admin = Administrator

structures-title = Structures
structures-intro = The structures staff accounts and people's agreements may name. People read their name, for instance in "You allow CCAS d'Amiens, antenne Nord to…".
structures-list = Registered structures
structures-name = Name
structures-name-hint = The name people read, for instance: CCAS d'Amiens, antenne Nord.
structures-id = Identifier
structures-id-hint = Lowercase letters, digits and dashes, for instance: ccas-nord. It never changes afterwards: to rename a structure, keep its identifier.
structures-kind = Kind
structures-actions = Actions
structures-rename = Rename
structures-form-title = Add or rename a structure
structures-save = Save the structure
structures-saved = The structure "{ $name }" is saved.
structure-kind-ccas = CCAS or one of its antennas
structure-kind-france-services = France Services
structure-kind-association = Association
structure-kind-library = Library
structure-kind-town-hall = Town hall or annex
structure-kind-other = Other
menu-structures = Structures
