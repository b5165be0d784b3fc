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
error-form-expired = Ce formulaire a expiré. Revenez en arrière, rechargez la page et recommencez.
error-wait = Trop d'essais. Réessayez dans { $minutes ->
    [one] 1 minute
   *[other] { $minutes } minutes
}.
error-full = La limite est atteinte. Réessayez plus tard ou demandez à un agent.
error-invalid = Une information n'est pas acceptée. Vérifiez et recommencez.
error-unavailable = Le service ne répond pas pour le moment. Réessayez dans quelques minutes.
error-internal = Une erreur est arrivée. Réessayez. Si cela continue, prévenez un agent.
