//! `passerelle.identity.v1.Identity` over gRPC: requests parsed into domain values, results
//! mapped back, errors turned into status codes once (by [`ServiceError`]).

use std::collections::BTreeSet;

use passerelle_access::{Mandate, Scope};
use passerelle_kit::auth::Role;
use passerelle_kit::grpc::{self, Reply, invalid, ok, required, timestamp};
use passerelle_kit::server::principal;
use passerelle_proto::identity::v1 as pb;
use passerelle_proto::identity::v1::identity_server::{Identity as IdentityRpc, IdentityServer};
use tonic::{Request, Status};

use crate::domain::{
    Account, BirthDate, DocumentKind, IdentityDocument, Language, MandateDuration, PersonName,
    Phone, Secret, StoredRole, Structure, StructureKind, Username, parse_structure,
};
use crate::service::{AccountChanges, Identity, NewAccount, Presence, Sheet, Signature};

/// The gRPC face of [`Identity`].
#[derive(Clone, Debug)]
pub struct IdentityGrpc {
    service: Identity,
}

impl IdentityGrpc {
    pub fn new(service: Identity) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> IdentityServer<Self> {
        IdentityServer::new(self)
    }
}

fn role(value: i32) -> Result<Role, Status> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Beneficiary) => Ok(Role::Beneficiary),
        Ok(pb::Role::Agent) => Ok(Role::Agent),
        Ok(pb::Role::Volunteer) => Ok(Role::Volunteer),
        Ok(pb::Role::Manager) => Ok(Role::Manager),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        _ => Err(invalid(
            "role is required: expected beneficiary, agent, volunteer, manager or admin",
        )),
    }
}

fn to_pb_role(role: StoredRole) -> pb::Role {
    match role {
        StoredRole::Beneficiary => pb::Role::Beneficiary,
        StoredRole::Agent => pb::Role::Agent,
        StoredRole::Volunteer => pb::Role::Volunteer,
        StoredRole::Manager => pb::Role::Manager,
        StoredRole::Admin => pb::Role::Admin,
    }
}

fn scope(value: i32) -> Result<Scope, Status> {
    match pb::Scope::try_from(value) {
        Ok(pb::Scope::Documents) => Ok(Scope::Documents),
        Ok(pb::Scope::Alerts) => Ok(Scope::Alerts),
        Ok(pb::Scope::Interpreting) => Ok(Scope::Interpreting),
        Ok(pb::Scope::Pathways) => Ok(Scope::Pathways),
        Ok(pb::Scope::Procedures) => Ok(Scope::Procedures),
        _ => Err(invalid(format!(
            "scope {value} is not accepted: expected documents, alerts, interpreting, pathways or procedures"
        ))),
    }
}

fn to_pb_scope(scope: Scope) -> pb::Scope {
    match scope {
        Scope::Documents => pb::Scope::Documents,
        Scope::Alerts => pb::Scope::Alerts,
        Scope::Interpreting => pb::Scope::Interpreting,
        Scope::Pathways => pb::Scope::Pathways,
        Scope::Procedures => pb::Scope::Procedures,
    }
}

fn scopes(values: &[i32]) -> Result<BTreeSet<Scope>, Status> {
    values.iter().map(|v| scope(*v)).collect()
}

fn duration(value: i32) -> Result<MandateDuration, Status> {
    match pb::MandateDuration::try_from(value) {
        Ok(pb::MandateDuration::OneDay) => Ok(MandateDuration::OneDay),
        Ok(pb::MandateDuration::OneMonth) => Ok(MandateDuration::OneMonth),
        Ok(pb::MandateDuration::SixMonths) => Ok(MandateDuration::SixMonths),
        Ok(pb::MandateDuration::OneYear) => Ok(MandateDuration::OneYear),
        _ => Err(invalid(
            "duration is required: expected one day, one month, six months or one year",
        )),
    }
}

fn identity_document(document: &pb::IdentityDocument) -> Result<IdentityDocument, Status> {
    let kind = match pb::IdentityDocumentKind::try_from(document.kind) {
        Ok(pb::IdentityDocumentKind::IdentityCard) => DocumentKind::IdentityCard,
        Ok(pb::IdentityDocumentKind::Passport) => DocumentKind::Passport,
        Ok(pb::IdentityDocumentKind::ResidencePermit) => DocumentKind::ResidencePermit,
        Ok(pb::IdentityDocumentKind::DrivingLicence) => DocumentKind::DrivingLicence,
        Ok(pb::IdentityDocumentKind::AsylumCertificate) => DocumentKind::AsylumCertificate,
        _ => {
            return Err(invalid(
                "identity_document.kind is required: identity card, passport, residence permit, driving licence or asylum-seeker certificate",
            ));
        }
    };
    Ok(IdentityDocument::parse(kind, &document.number)?)
}

fn to_pb_account(account: &Account) -> pb::Account {
    pb::Account {
        id: account.id.clone(),
        username: account.username.as_str().to_owned(),
        role: to_pb_role(account.role) as i32,
        given_name: account.given_name.as_str().to_owned(),
        family_name: account.family_name.as_str().to_owned(),
        phone: account
            .phone
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        language: account.language.as_str().to_owned(),
        structure: account.structure.clone(),
        created_at: timestamp(account.created_at),
        uses_pin: account.uses_pin,
        birth_date: account
            .birth_date
            .map(|d| d.as_string())
            .unwrap_or_default(),
    }
}

fn to_pb_sheet(sheet: Sheet) -> pb::RecoverySheet {
    pb::RecoverySheet {
        code: sheet.code,
        pdf: sheet.pdf,
        qr_svg: sheet.qr_svg,
    }
}

fn to_pb_mandate(mandate: &Mandate, now: i64, structure_name: String) -> pb::Mandate {
    pb::Mandate {
        id: mandate.id.clone(),
        beneficiary_id: mandate.beneficiary_id.clone(),
        structure: mandate.structure.clone(),
        scopes: mandate
            .scopes
            .iter()
            .map(|s| to_pb_scope(*s) as i32)
            .collect(),
        granted_at: timestamp(mandate.granted_at),
        expires_at: timestamp(mandate.expires_at),
        consent: mandate.consent.kind().to_owned(),
        recorded_by: mandate.consent.recorded_by().unwrap_or_default().to_owned(),
        revoked: mandate.revoked_at.is_some(),
        live: mandate.is_live(now),
        summary: mandate.summary_fr(now, &structure_name),
        structure_name,
    }
}

fn to_pb_structure(structure: &Structure) -> pb::Structure {
    let kind = match structure.kind {
        StructureKind::Ccas => pb::StructureKind::Ccas,
        StructureKind::FranceServices => pb::StructureKind::FranceServices,
        StructureKind::Association => pb::StructureKind::Association,
        StructureKind::Library => pb::StructureKind::Library,
        StructureKind::TownHall => pb::StructureKind::TownHall,
        StructureKind::Other => pb::StructureKind::Other,
    };
    pb::Structure {
        id: structure.id.clone(),
        display_name: structure.display_name.clone(),
        kind: kind as i32,
    }
}

fn structure_kind(value: i32) -> Result<StructureKind, Status> {
    Ok(match pb::StructureKind::try_from(value) {
        Ok(pb::StructureKind::Ccas) => StructureKind::Ccas,
        Ok(pb::StructureKind::FranceServices) => StructureKind::FranceServices,
        Ok(pb::StructureKind::Association) => StructureKind::Association,
        Ok(pb::StructureKind::Library) => StructureKind::Library,
        Ok(pb::StructureKind::TownHall) => StructureKind::TownHall,
        Ok(pb::StructureKind::Other) => StructureKind::Other,
        _ => {
            return Err(invalid(
                "kind is required: expected STRUCTURE_KIND_CCAS, STRUCTURE_KIND_FRANCE_SERVICES, STRUCTURE_KIND_ASSOCIATION, STRUCTURE_KIND_LIBRARY, STRUCTURE_KIND_TOWN_HALL or STRUCTURE_KIND_OTHER",
            ));
        }
    })
}

impl IdentityGrpc {
    /// One mandate as a reply, with its structure's display name.
    async fn mandate_reply(&self, mandate: &Mandate) -> Reply<pb::Mandate> {
        let name = self.service.structure_name(&mandate.structure).await?;
        ok(to_pb_mandate(mandate, self.service.now(), name))
    }
}

fn token_reply(token: crate::provider::Token) -> Reply<pb::TokenResponse> {
    ok(pb::TokenResponse {
        access_token: token.access_token,
        token_type: "Bearer".into(),
        expires_in_seconds: token.expires_in,
    })
}

/// The caller's address, for brute-force protection (behind a trusted proxy, the client's).
fn source<T>(request: &Request<T>) -> String {
    passerelle_kit::net::client_address(request)
}

impl IdentityGrpc {
    /// An optional date of birth: empty is none.
    fn birth_date(&self, raw: &str) -> Result<Option<BirthDate>, Status> {
        match raw.trim() {
            "" => Ok(None),
            raw => Ok(Some(BirthDate::parse(raw, self.service.today())?)),
        }
    }
}

#[tonic::async_trait]
impl IdentityRpc for IdentityGrpc {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Reply<pb::CreateAccountResponse> {
        let (caller, r) = grpc::caller(request)?;
        let new = NewAccount {
            role: role(r.role)?,
            username: match r.username.trim() {
                "" => None,
                name => Some(Username::parse(name)?),
            },
            given_name: PersonName::parse("given name", &r.given_name)?,
            family_name: PersonName::parse("family name", &r.family_name)?,
            phone: match r.phone.trim() {
                "" => None,
                phone => Some(Phone::parse(phone)?),
            },
            language: Language::parse(&r.language)?,
            secret: Secret::parse(&r.secret)?,
            structure: match r.structure.trim() {
                "" => None,
                s => Some(parse_structure(s)?),
            },
            birth_date: self.birth_date(&r.birth_date)?,
        };
        let (account, sheet) = self.service.create_account(&caller, new).await?;
        ok(pb::CreateAccountResponse {
            account: Some(to_pb_account(&account)),
            recovery_sheet: Some(to_pb_sheet(sheet)),
        })
    }

    async fn get_account(&self, request: Request<pb::GetAccountRequest>) -> Reply<pb::Account> {
        let (caller, request) = grpc::caller(request)?;
        let id = grpc::or_caller(&request.account_id, &caller).to_owned();
        ok(to_pb_account(
            &self.service.get_account(&caller, &id).await?,
        ))
    }

    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Reply<pb::Account> {
        let (caller, r) = grpc::caller(request)?;
        let id = required("account_id", &r.account_id)?.to_owned();
        let changes = AccountChanges {
            given_name: r
                .given_name
                .as_deref()
                .map(|v| PersonName::parse("given name", v))
                .transpose()?,
            family_name: r
                .family_name
                .as_deref()
                .map(|v| PersonName::parse("family name", v))
                .transpose()?,
            phone: match r.phone.as_deref().map(str::trim) {
                None => None,
                Some("") => Some(None),
                Some(v) => Some(Some(Phone::parse(v)?)),
            },
            language: r.language.as_deref().map(Language::parse).transpose()?,
            birth_date: match r.birth_date.as_deref() {
                None => None,
                Some(raw) => Some(self.birth_date(raw)?),
            },
        };
        ok(to_pb_account(
            &self.service.update_account(&caller, &id, changes).await?,
        ))
    }

    async fn erase_account(
        &self,
        request: Request<pb::EraseAccountRequest>,
    ) -> Reply<pb::EraseAccountResponse> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("account_id", &request.account_id)?.to_owned();
        self.service.erase_account(&caller, &id).await?;
        ok(pb::EraseAccountResponse {})
    }

    async fn search_accounts(
        &self,
        request: Request<pb::SearchAccountsRequest>,
    ) -> Reply<pb::SearchAccountsResponse> {
        let (caller, r) = grpc::caller(request)?;
        let structure = match r.structure.trim() {
            "" => None,
            s => Some(parse_structure(s)?),
        };
        let limit = match r.page_size {
            0 => 20,
            n => usize::try_from(n)
                .map_err(|_| invalid(format!("page_size {n} is not accepted: expected 1 to 50")))?,
        };
        let (accounts, more) = self
            .service
            .search_accounts(
                &caller,
                &r.query,
                self.birth_date(&r.birth_date)?,
                structure.as_deref(),
                limit,
            )
            .await?;
        ok(pb::SearchAccountsResponse {
            accounts: accounts.iter().map(to_pb_account).collect(),
            more,
        })
    }

    async fn renew_token(
        &self,
        request: Request<pb::RenewTokenRequest>,
    ) -> Reply<pb::TokenResponse> {
        let (caller, _) = grpc::caller(request)?;
        token_reply(self.service.renew_token(&caller).await?)
    }

    async fn login(&self, request: Request<pb::LoginRequest>) -> Reply<pb::TokenResponse> {
        let from = source(&request);
        let r = request.into_inner();
        token_reply(self.service.login(&r.username, &r.secret, &from).await?)
    }

    async fn change_secret(
        &self,
        request: Request<pb::ChangeSecretRequest>,
    ) -> Reply<pb::ChangeSecretResponse> {
        let caller = principal(&request)?.clone();
        let from = source(&request);
        let r = request.into_inner();
        let secret = Secret::parse(&r.new_secret)?;
        self.service
            .change_secret(&caller, &r.current_secret, secret, &from)
            .await?;
        ok(pb::ChangeSecretResponse {})
    }

    async fn act_as(&self, request: Request<pb::ActAsRequest>) -> Reply<pb::TokenResponse> {
        let (caller, r) = grpc::caller(request)?;
        let beneficiary = required("beneficiary_id", &r.beneficiary_id)?;
        token_reply(
            self.service
                .act_as(&caller, beneficiary, scope(r.scope)?)
                .await?,
        )
    }

    async fn recover_with_code(
        &self,
        request: Request<pb::RecoverWithCodeRequest>,
    ) -> Reply<pb::RecoveryResponse> {
        let from = source(&request);
        let r = request.into_inner();
        let secret = Secret::parse(&r.new_secret)?;
        let sheet = self
            .service
            .recover_with_code(&r.username, &r.code, secret, &from)
            .await?;
        ok(pb::RecoveryResponse {
            recovery_sheet: Some(to_pb_sheet(sheet)),
        })
    }

    async fn start_assisted_recovery(
        &self,
        request: Request<pb::StartAssistedRecoveryRequest>,
    ) -> Reply<pb::AssistedRecovery> {
        let caller = principal(&request)?.clone();
        let from = source(&request);
        let r = request.into_inner();
        let id = required("account_id", &r.account_id)?;
        let presence = match &r.presence {
            Some(pb::start_assisted_recovery_request::Presence::SheetCode(code)) => {
                Presence::SheetCode(required("sheet_code", code)?.to_owned())
            }
            Some(pb::start_assisted_recovery_request::Presence::IdentityDocument(document)) => {
                Presence::IdentityDocument(identity_document(document)?)
            }
            None => {
                return Err(invalid(
                    "presence is required: the code of the person's recovery sheet (sheet_code), or the identity document you checked (identity_document: kind and number)",
                ));
            }
        };
        let recovery = self
            .service
            .start_assisted_recovery(&caller, id, &r.verification, presence, &from)
            .await?;
        ok(pb::AssistedRecovery {
            id: recovery.id,
            account_id: recovery.account_id,
            started_by: recovery.started_by,
            expires_at: timestamp(recovery.expires_at),
        })
    }

    async fn approve_assisted_recovery(
        &self,
        request: Request<pb::ApproveAssistedRecoveryRequest>,
    ) -> Reply<pb::RecoveryResponse> {
        let (caller, r) = grpc::caller(request)?;
        let id = required("recovery_id", &r.recovery_id)?;
        let secret = Secret::parse(&r.new_secret)?;
        let document = r
            .identity_document
            .as_ref()
            .map(identity_document)
            .transpose()?;
        let sheet = self
            .service
            .approve_assisted_recovery(&caller, id, secret, document)
            .await?;
        ok(pb::RecoveryResponse {
            recovery_sheet: Some(to_pb_sheet(sheet)),
        })
    }

    async fn grant_mandate(&self, request: Request<pb::GrantMandateRequest>) -> Reply<pb::Mandate> {
        let caller = principal(&request)?.clone();
        let source = source(&request);
        let r = request.into_inner();
        let beneficiary = required("beneficiary_id", &r.beneficiary_id)?;
        let structure = required("structure", &r.structure)?;
        let mandate = self
            .service
            .grant_mandate(
                &caller,
                beneficiary,
                structure,
                scopes(&r.scopes)?,
                duration(r.duration)?,
                &if !r.signature_png.is_empty() {
                    Signature::Png(r.signature_png.clone())
                } else if !r.typed_signature.trim().is_empty() {
                    Signature::Typed(PersonName::parse("typed_signature", &r.typed_signature)?)
                } else {
                    Signature::None
                },
                &r.beneficiary_secret,
                &source,
            )
            .await?;
        self.mandate_reply(&mandate).await
    }

    async fn request_mandate_consent(
        &self,
        request: Request<pb::RequestMandateConsentRequest>,
    ) -> Reply<pb::MandateConsentPending> {
        let (caller, r) = grpc::caller(request)?;
        let beneficiary = required("beneficiary_id", &r.beneficiary_id)?;
        let pending = self
            .service
            .request_mandate_consent(
                &caller,
                beneficiary,
                scopes(&r.scopes)?,
                duration(r.duration)?,
            )
            .await?;
        ok(pb::MandateConsentPending {
            consent_id: pending.id,
            phone_masked: pending.phone_masked,
            expires_at: timestamp(pending.expires_at),
        })
    }

    async fn confirm_mandate_consent(
        &self,
        request: Request<pb::ConfirmMandateConsentRequest>,
    ) -> Reply<pb::Mandate> {
        let (caller, r) = grpc::caller(request)?;
        let id = required("consent_id", &r.consent_id)?;
        let code = required("code", &r.code)?;
        let mandate = self
            .service
            .confirm_mandate_consent(&caller, id, code)
            .await?;
        self.mandate_reply(&mandate).await
    }

    async fn revoke_mandate(
        &self,
        request: Request<pb::RevokeMandateRequest>,
    ) -> Reply<pb::Mandate> {
        let (caller, r) = grpc::caller(request)?;
        let mandate_id = required("mandate_id", &r.mandate_id)?;
        let beneficiary = required("beneficiary_id", &r.beneficiary_id)?;
        let mandate = self
            .service
            .revoke_mandate(&caller, beneficiary, mandate_id, scopes(&r.scopes)?)
            .await?;
        self.mandate_reply(&mandate).await
    }

    async fn renew_mandate(&self, request: Request<pb::RenewMandateRequest>) -> Reply<pb::Mandate> {
        let (caller, r) = grpc::caller(request)?;
        let mandate_id = required("mandate_id", &r.mandate_id)?;
        let beneficiary = required("beneficiary_id", &r.beneficiary_id)?;
        let mandate = self
            .service
            .renew_mandate(&caller, beneficiary, mandate_id, duration(r.duration)?)
            .await?;
        self.mandate_reply(&mandate).await
    }

    async fn list_mandates(
        &self,
        request: Request<pb::ListMandatesRequest>,
    ) -> Reply<pb::ListMandatesResponse> {
        let (caller, request) = grpc::caller(request)?;
        let beneficiary = required("beneficiary_id", &request.beneficiary_id)?.to_owned();
        let now = self.service.now();
        let mandates = self.service.list_mandates(&caller, &beneficiary).await?;
        let names = self.service.structure_names().await?;
        ok(pb::ListMandatesResponse {
            mandates: mandates
                .iter()
                .map(|m| {
                    let name = names.get(&m.structure).unwrap_or(&m.structure).clone();
                    to_pb_mandate(m, now, name)
                })
                .collect(),
        })
    }

    async fn list_structures(
        &self,
        request: Request<pb::ListStructuresRequest>,
    ) -> Reply<pb::ListStructuresResponse> {
        let (caller, _) = grpc::caller(request)?;
        let structures = self.service.list_structures(&caller).await?;
        ok(pb::ListStructuresResponse {
            structures: structures.iter().map(to_pb_structure).collect(),
        })
    }

    async fn save_structure(
        &self,
        request: Request<pb::SaveStructureRequest>,
    ) -> Reply<pb::Structure> {
        let (caller, r) = grpc::caller(request)?;
        let given = r.structure.unwrap_or_default();
        let structure =
            Structure::parse(&given.id, &given.display_name, structure_kind(given.kind)?)?;
        ok(to_pb_structure(
            &self.service.save_structure(&caller, structure).await?,
        ))
    }

    async fn list_audit_trail(
        &self,
        request: Request<pb::ListAuditTrailRequest>,
    ) -> Reply<pb::ListAuditTrailResponse> {
        let (caller, r) = grpc::caller(request)?;
        let beneficiary = required("beneficiary_id", &r.beneficiary_id)?;
        let size = match r.page_size {
            0 => 50,
            n if (1..=500).contains(&n) => n as usize,
            n => {
                return Err(invalid(format!(
                    "page_size {n} is out of range: expected 1 to 500"
                )));
            }
        };
        let after = (!r.page_token.is_empty()).then_some(r.page_token.as_str());
        let (entries, next) = self
            .service
            .audit_trail(&caller, beneficiary, after, size)
            .await?;
        ok(pb::ListAuditTrailResponse {
            entries: entries
                .into_iter()
                .map(|e| pb::AuditEntry {
                    at: timestamp(e.at),
                    actor: e.actor,
                    actor_structure: e.actor_structure,
                    action: e.action,
                    mandate_id: e.mandate_id.unwrap_or_default(),
                    detail: e.detail,
                })
                .collect(),
            next_page_token: next.unwrap_or_default(),
        })
    }
}
