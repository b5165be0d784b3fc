# Passerelle — le site, en français (langue par défaut).
# Phrases courtes, mots simples : beaucoup de personnes lisent peu.

language-name = Français
skip-to-content = Aller au contenu
nav-label = Outils
finish = Je termine
footer-help = Besoin d'aide ? Un agent du CCAS peut vous aider à l'accueil.
idle-warning = Sans action, vous serez déconnecté dans { $time }.
back-home = Retour à l'accueil
back-papers = Retour à mes papiers
download = Télécharger
print = Imprimer

# Connexion
sign-in-title = Se connecter
pin-title = Se connecter avec mon code
sign-in = Entrer
username = Mon identifiant
username-hint = Il est écrit sur votre feuille Passerelle. Par exemple : soleil-lavande-4821.
secret = Mon mot de passe
secret-hint = Au moins 8 caractères.
pin = Mon code à 6 chiffres
pin-hint = Tapez vos 6 chiffres.
pin-erase = Effacer le dernier chiffre
use-pin = J'ai un code à 6 chiffres
use-password = J'ai un mot de passe
open-share-link = J'ai un code de partage
sign-in-lost = Vous avez perdu votre code ? Venez à l'accueil du CCAS avec votre feuille ou une pièce d'identité.
sign-in-missing = Écrivez votre identifiant et votre code.
sign-in-wrong = L'identifiant ou le code n'est pas bon. Vérifiez et réessayez.
sign-in-wait = Trop d'essais. Réessayez dans { $minutes ->
    [one] 1 minute
   *[other] { $minutes } minutes
}.
sign-in-oidc-intro = Connectez-vous avec votre compte de la ville.
sign-in-oidc = Se connecter
signed-out = Vous êtes déconnecté. Vous pouvez laisser l'ordinateur.
sign-out-everywhere = Me déconnecter sur tous les appareils

# Mes papiers
papers-title = Mes papiers
papers-count = { $count ->
    [0] Aucun document
    [one] 1 document
   *[other] { $count } documents
}
papers-empty = Vous n'avez pas encore de document. Un agent peut les scanner pour vous.
paper-title = Mon document
expires-on = Valable jusqu'au { $date }
expired-since = Périmé depuis le { $date }
issued-on = Fait le { $date }
size-kb = { $size } Ko
size-mb = { $size } Mo
type-identity-card = Carte d'identité
type-passport = Passeport
type-residence-permit = Titre de séjour
type-carte-vitale = Carte Vitale
type-tax-notice = Avis d'impôt
type-france-travail = Attestation France Travail
type-caf = Attestation CAF
type-proof-of-address = Justificatif de domicile
type-domiciliation = Attestation de domiciliation
type-cv = CV
type-payslip = Fiche de paie
type-other = Autre document
month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre
days = { $count ->
    [one] 1 jour
   *[other] { $count } jours
}

# Partager
share-title = Partager ce document
share-intro = Vous recevez un code. Donnez-le à la personne qui doit voir le document. Le code marche quelques jours.
share-recipient = Pour qui ? (facultatif)
share-recipient-hint = Par exemple : mairie, CAF, employeur.
share-days = Pendant combien de temps ?
share-make = Créer un code
share-days-invalid = Choisissez 1, 3 ou 7 jours.
share-made-title = Votre code de partage
share-code-is = Donnez ce code :
share-until = Il marche jusqu'au { $date }.
share-for = Pour : { $who }
share-qr = Le même code, en QR code, à montrer sur l'écran.
share-once = Ce code ne sera plus affiché. Notez-le ou imprimez cette page.

# Ouvrir un partage
share-open-title = Ouvrir un document partagé
share-open-intro = Quelqu'un vous a donné un code pour voir un document. Tapez-le ici.
share-code = Le code
share-code-hint = Par exemple : 7KQ4-M2XD-9PWA.
share-open = Voir le document
share-open-until = Vous pouvez télécharger ces documents jusqu'au { $date }.
share-code-missing = Écrivez le code.
share-code-wrong = Ce code ne marche pas. Il est peut-être mal écrit ou trop ancien.

# Accueil des agents
desk-title = Trouver une personne
search-person = Nom, prénom ou identifiant
search-person-hint = Une partie suffit. Les accents ne comptent pas.
birth-date = Date de naissance (facultatif)
date-hint = Par exemple : 14/03/1961.
search = Chercher
search-results = { $count ->
    [0] Aucune personne trouvée
    [one] 1 personne trouvée
   *[other] { $count } personnes trouvées
}
search-none = Personne ne correspond. Vérifiez l'orthographe ou cherchez par date de naissance.
search-more = D'autres personnes correspondent : précisez la recherche.
search-invalid = Écrivez une partie du nom ou une date de naissance valide (jour/mois/année).
born-on = née ou né le { $date }

# Erreurs
error-title = Un problème
error-detail = Détail technique
error-denied = Vous n'avez pas accès à cette page. Si vous pensez que c'est une erreur, demandez à un agent.
error-not-found = Ce document ou cette personne n'existe pas, ou plus.
error-page-not-found = Cette page n'existe pas. Vérifiez l'adresse.
error-form-only = Cette page s'ouvre depuis un formulaire. Revenez en arrière ou repartez de l'accueil.
error-form-expired = Ce formulaire a expiré. Revenez en arrière, rechargez la page et recommencez.
error-wait = Trop d'essais. Réessayez dans { $minutes ->
    [one] 1 minute
   *[other] { $minutes } minutes
}.
error-full = La limite est atteinte. Réessayez plus tard ou demandez à un agent.
error-invalid = Une information n'est pas acceptée. Vérifiez et recommencez.
error-unavailable = Le service ne répond pas pour le moment. Réessayez dans quelques minutes.
error-internal = Une erreur est arrivée. Réessayez. Si cela continue, prévenez un agent.

# Menus
menu-label = Menu
menu-find = Trouver une personne
menu-new-person = Nouvelle personne
menu-recovery = Récupération (2e agent)
menu-staff = Comptes du personnel

# Une personne (agents)
person-title = Une personne
person-new-title = Créer un compte
person-new-intro = La personne est à côté de vous. Elle n'a pas besoin d'adresse e-mail.
given-name = Prénom
family-name = Nom
phone = Téléphone portable (facultatif)
phone-hint = Pour recevoir des codes par SMS. Par exemple : 06 12 34 56 78.
language = Langue de la personne
username-choose = Identifiant (facultatif)
username-choose-hint = Laissez vide : Passerelle en choisit un facile à lire.
pin-choose = Code secret à 6 chiffres
pin-choose-hint = La personne le choisit et le tape elle-même. Pas 123456, ni 6 fois le même chiffre.
person-create = Créer le compte
person-username = Identifiant
person-names-missing = Écrivez le prénom et le nom.
person-pin-invalid = Le code doit avoir 6 chiffres.
person-pin-weak = Ce code est trop facile à deviner. Choisissez 6 autres chiffres.
person-phone-invalid = Ce numéro de téléphone n'est pas reconnu. Exemple : 06 12 34 56 78.
person-birth-invalid = Cette date de naissance n'est pas valide. Exemple : 14/03/1961.
person-username-invalid = Cet identifiant n'est pas accepté : lettres sans accents, chiffres, points ou tirets.
person-username-taken = Cet identifiant est déjà pris. Choisissez-en un autre ou laissez vide.
sheet-title = La feuille de la personne
sheet-intro = Imprimez cette feuille et donnez-la à la personne. Elle permet de revenir dans son compte sans e-mail.
sheet-code = Code de secours
sheet-qr = Le QR code de la feuille
sheet-keep = Ce code ne sera plus affiché. La personne garde la feuille dans un endroit sûr.
sheet-pdf = Télécharger la feuille à imprimer (PDF)
sheet-continue = Continuer avec cette personne
sheet-gone = Cette feuille n'est plus disponible. Une nouvelle feuille se fait par une récupération.
mandates-title = Les accords (mandats)
mandates-none = Votre structure n'a aucun accord de cette personne.
mandate-until = Jusqu'au { $date }
mandate-ended = Terminé
mandate-renew = Prolonger de 6 mois
mandate-revoke = Arrêter
mandate-new = Enregistrer un accord
consent-in-person = signé à l'accueil
consent-sms = accepté par SMS
consent-self = donné par la personne
documents-title = Ses documents
documents-none = Aucun document pour le moment.
documents-need-mandate = Pour voir ou ajouter ses documents, il faut un accord de la personne pour « ses papiers ».
done-mandate = L'accord est enregistré.
done-renewed = L'accord est prolongé.
done-revoked = L'accord est arrêté. Votre structure n'a plus accès.
done-uploaded = Les documents sont enregistrés.
back-person = Retour à la personne

# Accords
mandate-title = Un accord de la personne
mandate-what = Pour quoi la personne vous donne son accord ?
mandate-how-long = Pour combien de temps ?
mandate-here = La personne est ici
mandate-by-sms = Lui envoyer un code par SMS
mandate-no-scope = Cochez au moins une case.
mandate-summary = Ce que la personne accepte
mandate-summary-intro = Lisez ensemble. La personne accepte que { $who } :
mandate-summary-end = La personne peut arrêter cet accord quand elle veut, dans Passerelle ou à l'accueil.
mandate-sign-draw = Signature (avec le doigt ou la souris)
mandate-sign-clear = Effacer la signature
mandate-sign-typed = Ou : la personne écrit son nom et son prénom
mandate-sign-typed-hint = Seulement si elle ne peut pas signer à l'écran.
mandate-secret = Code secret de la personne
mandate-secret-hint = La personne le tape elle-même. Cela montre qu'elle est là et d'accord.
mandate-confirm = Confirmer l'accord
mandate-unsigned = Il manque la signature, ou le nom écrit par la personne.
mandate-secret-wrong = Le code de la personne n'est pas bon. Elle peut réessayer.
mandate-sms-title = Accord par SMS
mandate-sms-sent = Un code est parti par SMS au { $who }.
mandate-sms-code = Le code reçu par la personne
mandate-sms-wrong = Ce code n'est pas bon. La personne peut le relire et réessayer.
mandate-sms-impossible = Le SMS n'est pas possible pour cette personne (pas de téléphone, ou pas de service SMS).
scope-documents = ses papiers (voir, ajouter, partager)
scope-procedures = ses démarches et ses informations
scope-pathways = son parcours numérique
scope-alerts = les alertes (canicule, grand froid)
scope-interpreting = l'interprétariat
scope-unknown = autre
summary-documents = voir ses papiers, en ajouter et les partager avec un code ;
summary-procedures = l'aider dans ses démarches et corriger ses informations ;
summary-pathways = suivre son parcours pour apprendre le numérique ;
summary-alerts = l'inscrire aux alertes canicule et grand froid ;
summary-interpreting = réserver un interprète pour elle ;
duration-day = Pendant 1 jour.
duration-month = Pendant 1 mois.
duration-six-months = Pendant 6 mois.
duration-year = Pendant 1 an.

# Ajouter des documents
upload-title = Ajouter des documents
upload-files = Les fichiers (ou une photo)
upload-files-hint = PDF, photos, documents Word ou LibreOffice. Jusqu'à 8 fichiers, { $size } Mo chacun.
upload-type = Quel document ?
upload-name = Nom du document (facultatif)
upload-expires = Date de fin de validité (facultatif)
upload-expires-hint = Passerelle prévient 30 jours avant.
upload-send = Enregistrer
upload-progress = Envoi en cours
upload-none = Choisissez au moins un fichier.
upload-too-many = { $count } fichiers au plus à la fois.
upload-too-large = Un fichier est trop gros : { $size } Mo au plus.
upload-broken = L'envoi a été coupé. Réessayez.
upload-busy = Beaucoup d'envois en ce moment. Réessayez dans une minute.
upload-type-refused = Ce type de fichier n'est pas accepté. Acceptés : PDF, photos (JPEG, PNG, HEIC…) et documents Word ou LibreOffice.
upload-date-invalid = La date n'est pas valide.

# Démarches
checklist-title = Les papiers d'une démarche
checklist-pick = Quelle démarche ?
checklist-see = Voir ce qu'il faut
checklist-complete = Tout est là pour cette démarche.
check-ok = Présent
check-missing = Manquant
check-expired = Périmé
check-obsolete = Remplacé par un plus récent
check-too-old = Trop ancien

# Récupération à l'accueil
recovery-title = Récupérer un compte
recovery-start = La personne a perdu son code
recovery-intro = La personne est là. Elle montre sa feuille Passerelle ou une pièce d'identité. Un deuxième agent confirmera.
recovery-sheet-code = Le code de sa feuille
recovery-or = Ou
recovery-document = La pièce d'identité
recovery-document-number = Le numéro sur la pièce
recovery-document-hint = Regardez la pièce vous aussi, et tapez son numéro.
recovery-note = Remarque (facultatif)
recovery-begin = Demander la récupération
recovery-no-proof = Écrivez le code de la feuille ou le numéro de la pièce d'identité.
recovery-number = Numéro de récupération
recovery-second-agent = Donnez ce numéro à un deuxième agent de votre structure, avant le { $date }. Il ouvre « Récupération (2e agent) ».
recovery-approve-title = Confirmer une récupération
recovery-approve-intro = Vous êtes le deuxième agent. Regardez la pièce d'identité de la personne. Elle choisit son nouveau code.
recovery-approve = Confirmer et imprimer la nouvelle feuille
recovery-document-mismatch = Le numéro de la pièce ne correspond pas. Vérifiez avec la personne.
recovery-done = Le compte est récupéré.
document-driving-licence = Permis de conduire
document-asylum = Attestation de demande d'asile

# Qui m'aide
helpers-title = Qui m'aide
helpers-who = Les structures qui peuvent m'aider
helpers-nobody = Personne ne peut agir pour vous.
helpers-withdraw = Retirer mon accord
helpers-withdrawn = Votre accord est retiré. Cette structure n'a plus accès.
helpers-done = Ce qui a été fait pour moi
helpers-nothing = Rien pour le moment.
helpers-when = Quand
helpers-by = Qui
helpers-what = Quoi
act-by-you = Vous
act-by-structure = { $who }
act-upload = a ajouté un document
act-download = a téléchargé un document
act-read-documents = a regardé vos documents
act-update-document = a modifié un document
act-delete-document = a supprimé un document
act-share = a partagé un document
act-unshare = a arrêté un partage
act-read-shares = a regardé vos partages
act-checklist = a vérifié les papiers d'une démarche
act-mandate = a enregistré votre accord
act-mandate-renewed = a prolongé votre accord
act-mandate-revoked = a arrêté un accord
act-read-account = a regardé vos informations
act-update-account = a modifié vos informations
act-recovery = a récupéré votre compte avec vous
act-recovery-code = compte récupéré avec la feuille
act-act-as = a agi en votre nom
act-pathway = a suivi votre parcours numérique
act-other = autre action

# Mon code
secret-title = Mon code
secret-current = Mon code actuel
secret-new = Mon nouveau code
secret-new-hint = 6 chiffres, ou un mot de passe d'au moins 8 caractères.
secret-again = Encore une fois
secret-change = Changer mon code
secret-done = Votre code est changé.
secret-mismatch = Les deux nouveaux codes ne sont pas pareils.
secret-current-wrong = Votre code actuel n'est pas bon.
secret-refused = Ce code n'est pas accepté : trop facile à deviner ou trop court.

# Comptes du personnel
staff-title = Comptes du personnel
staff-role = Rôle
staff-structure = Structure
staff-structure-hint = La structure où la personne travaille.
staff-password = Mot de passe
staff-password-hint = Au moins 12 caractères.
staff-create = Créer le compte
staff-made = Le compte { $who } est créé.
role-agent = Agent
role-volunteer = Bénévole
role-manager = Responsable
role-admin = Administrateur

structures-title = Structures
structures-intro = Les structures que les comptes du personnel et les accords des personnes peuvent nommer. Les personnes lisent leur nom, par exemple dans « Vous autorisez CCAS d'Amiens, antenne Nord à… ».
structures-list = Structures enregistrées
structures-name = Nom
structures-name-hint = Le nom que les personnes lisent, par exemple : CCAS d'Amiens, antenne Nord.
structures-id = Identifiant
structures-id-hint = En minuscules, chiffres et tirets, par exemple : ccas-nord. Il ne change plus ensuite : pour renommer une structure, gardez son identifiant.
structures-kind = Type
structures-actions = Actions
structures-rename = Renommer
structures-form-title = Ajouter ou renommer une structure
structures-save = Enregistrer la structure
structures-saved = La structure « { $name } » est enregistrée.
structure-kind-ccas = CCAS ou antenne du CCAS
structure-kind-france-services = France Services
structure-kind-association = Association
structure-kind-library = Médiathèque ou bibliothèque
structure-kind-town-hall = Mairie ou mairie annexe
structure-kind-other = Autre
menu-structures = Structures
