//! The authorization matrix: every identity RPC, called by every kind of caller, on a
//! beneficiary whose mandate does or does not cover the caller — allowed exactly where the
//! table says, refused everywhere else.
//!
//! Each cell runs on a fresh beneficiary `Z`, so no call depends on another. `Z` has a mandate
//! {documents, procedures} to ccas-nord, except in the "agent, no mandate" row, where its
//! mandate goes to ccas-sud and the ccas-nord agent has none.

use passerelle_kit::testing::{MatrixReport, PERSON_CALLERS as CALLERS, PersonCaller as Caller};
use passerelle_proto::identity::v1 as pb;

use crate::helpers::{App, own_grant, signature_png, spawn_app};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rpc {
    CreateAccount,
    GetAccount,
    UpdateAccount,
    EraseAccount,
    SearchAccounts,
    Login,
    RenewToken,
    ChangeSecret,
    ActAs,
    RecoverWithCode,
    StartAssistedRecovery,
    ApproveAssistedRecovery,
    GrantMandate,
    RequestMandateConsent,
    ConfirmMandateConsent,
    RevokeMandate,
    RenewMandate,
    ListMandates,
    ListAuditTrail,
    ListStructures,
    SaveStructure,
}

/// `A` allowed, `D` denied, in the order of [`CALLERS`]:
/// anonymous, self, other beneficiary, agent (mandated), agent (no mandate),
/// agent (other structure), volunteer, manager, admin.
const MATRIX: &[(Rpc, &str)] = &[
    (Rpc::CreateAccount, "DDDAAADAA"),
    (Rpc::GetAccount, "DADADDDDA"),
    (Rpc::UpdateAccount, "DADADDDDA"),
    (Rpc::EraseAccount, "DADDDDDDA"),
    (Rpc::SearchAccounts, "DDDAAADAA"),
    (Rpc::Login, "AAAAAAAAA"),
    (Rpc::RenewToken, "DAAAAAAAA"),
    (Rpc::ChangeSecret, "DAAAAAAAA"),
    (Rpc::ActAs, "DDDADDDDD"),
    (Rpc::RecoverWithCode, "AAAAAAAAA"),
    (Rpc::StartAssistedRecovery, "DDDAADDDD"),
    (Rpc::ApproveAssistedRecovery, "DDDAADDAD"),
    (Rpc::GrantMandate, "DADAADDDD"),
    (Rpc::RequestMandateConsent, "DDDAAADDD"),
    (Rpc::ConfirmMandateConsent, "DDDAAADDD"),
    (Rpc::RevokeMandate, "DADADDDDA"),
    (Rpc::RenewMandate, "DADADDDDD"),
    (Rpc::ListMandates, "DADAAADDA"),
    (Rpc::ListAuditTrail, "DADDDDDDA"),
    (Rpc::ListStructures, "DAAAAAAAA"),
    (Rpc::SaveStructure, "DDDDDDDDA"),
];

struct World {
    app: App,
    admin: String,
    /// ccas-nord agents: the one under test, and a colleague who starts recoveries.
    agent: String,
    colleague: String,
    agent_sud: String,
    volunteer: String,
    manager: String,
    other_beneficiary: String,
    counter: std::sync::atomic::AtomicU32,
}

/// A fresh beneficiary for one cell: its id, its token, its recovery code, its mandate id.
struct Target {
    id: String,
    token: String,
    username: String,
    code: String,
    mandate: String,
}

impl World {
    async fn new() -> Self {
        let app = spawn_app().await;
        let admin = app.admin().await;
        for (role, name, structure) in [
            (pb::Role::Manager, "manager-nord", "ccas-nord"),
            (pb::Role::Agent, "agent-nord", "ccas-nord"),
            (pb::Role::Agent, "colleague-nord", "ccas-nord"),
            (pb::Role::Agent, "agent-sud", "ccas-sud"),
            (pb::Role::Volunteer, "volunteer-nord", "ccas-nord"),
        ] {
            app.create(&admin, role, name, structure, "").await;
        }
        let agent = app.token_of("agent-nord").await;
        app.create(&agent, pb::Role::Beneficiary, "other-person", "", "")
            .await;
        Self {
            agent,
            colleague: app.token_of("colleague-nord").await,
            agent_sud: app.token_of("agent-sud").await,
            volunteer: app.token_of("volunteer-nord").await,
            manager: app.token_of("manager-nord").await,
            other_beneficiary: app.token_of("other-person").await,
            admin,
            app,
            counter: std::sync::atomic::AtomicU32::new(0),
        }
    }

    async fn target(&self, caller: Caller) -> Target {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let username = format!("person-{n}");
        let (account, code) = self
            .app
            .create(
                &self.agent,
                pb::Role::Beneficiary,
                &username,
                "",
                "06 12 34 56 78",
            )
            .await;
        let token = self.app.token_of(&username).await;
        let structure = if caller == Caller::AgentNoMandate {
            "ccas-sud"
        } else {
            "ccas-nord"
        };
        let mandate = self
            .app
            .client(Some(&token))
            .grant_mandate(own_grant(
                account.id.clone(),
                structure,
                &[pb::Scope::Documents, pb::Scope::Procedures],
                pb::MandateDuration::OneMonth,
            ))
            .await
            .unwrap()
            .into_inner();
        Target {
            id: account.id,
            token,
            username,
            code,
            mandate: mandate.id,
        }
    }

    fn token(&self, caller: Caller, target: &Target) -> Option<String> {
        match caller {
            Caller::Anonymous => None,
            Caller::Person => Some(target.token.clone()),
            Caller::OtherBeneficiary => Some(self.other_beneficiary.clone()),
            Caller::AgentMandated | Caller::AgentNoMandate => Some(self.agent.clone()),
            Caller::AgentOtherStructure => Some(self.agent_sud.clone()),
            Caller::Volunteer => Some(self.volunteer.clone()),
            Caller::Manager => Some(self.manager.clone()),
            Caller::Admin => Some(self.admin.clone()),
        }
    }

    /// The caller's own username and secret (for ChangeSecret), if it has an account.
    fn own_secret(&self, caller: Caller, target: &Target) -> (String, String) {
        let name = match caller {
            Caller::Person => target.username.clone(),
            Caller::OtherBeneficiary => "other-person".into(),
            Caller::AgentMandated | Caller::AgentNoMandate => "agent-nord".into(),
            Caller::AgentOtherStructure => "agent-sud".into(),
            Caller::Volunteer => "volunteer-nord".into(),
            Caller::Manager => "manager-nord".into(),
            Caller::Admin => {
                return (
                    crate::helpers::ADMIN.into(),
                    crate::helpers::ADMIN_PASSWORD.into(),
                );
            }
            Caller::Anonymous => return ("nobody".into(), "nobody-secret".into()),
        };
        let secret = format!("{name}-secret");
        (name, secret)
    }

    async fn call(&self, rpc: Rpc, caller: Caller) -> Result<(), tonic::Status> {
        let target = self.target(caller).await;
        let token = self.token(caller, &target);
        let mut client = self.app.client(token.as_deref());
        match rpc {
            Rpc::CreateAccount => {
                let n = self
                    .counter
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                client
                    .create_account(pb::CreateAccountRequest {
                        role: pb::Role::Beneficiary as i32,
                        username: format!("new-{n}"),
                        given_name: "Lou".into(),
                        family_name: "Petit".into(),
                        secret: "482913".into(),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
            }
            Rpc::GetAccount => client
                .get_account(pb::GetAccountRequest {
                    account_id: target.id,
                })
                .await
                .map(drop),
            Rpc::UpdateAccount => client
                .update_account(pb::UpdateAccountRequest {
                    account_id: target.id,
                    phone: Some("07 11 22 33 44".into()),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::EraseAccount => client
                .erase_account(pb::EraseAccountRequest {
                    account_id: target.id,
                })
                .await
                .map(drop),
            Rpc::SearchAccounts => client
                .search_accounts(pb::SearchAccountsRequest {
                    query: target.username,
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::RenewToken => client.renew_token(pb::RenewTokenRequest {}).await.map(drop),
            Rpc::Login => {
                let (username, secret) = self.own_secret(Caller::Person, &target);
                client
                    .login(pb::LoginRequest { username, secret })
                    .await
                    .map(drop)
            }
            Rpc::ChangeSecret => {
                let (_, secret) = self.own_secret(caller, &target);
                client
                    .change_secret(pb::ChangeSecretRequest {
                        current_secret: secret.clone(),
                        new_secret: secret,
                    })
                    .await
                    .map(drop)
            }
            Rpc::ActAs => client
                .act_as(pb::ActAsRequest {
                    beneficiary_id: target.id,
                    scope: pb::Scope::Documents as i32,
                })
                .await
                .map(drop),
            Rpc::RecoverWithCode => client
                .recover_with_code(pb::RecoverWithCodeRequest {
                    username: target.username.clone(),
                    code: target.code.clone(),
                    new_secret: "a new passphrase".into(),
                })
                .await
                .map(drop),
            Rpc::StartAssistedRecovery => client
                .start_assisted_recovery(pb::StartAssistedRecoveryRequest {
                    account_id: target.id,
                    verification: String::new(),
                    presence: Some(identity_card()),
                })
                .await
                .map(drop),
            Rpc::ApproveAssistedRecovery => {
                let started = self
                    .app
                    .client(Some(&self.colleague))
                    .start_assisted_recovery(pb::StartAssistedRecoveryRequest {
                        account_id: target.id,
                        verification: String::new(),
                        presence: Some(identity_card()),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                client
                    .approve_assisted_recovery(pb::ApproveAssistedRecoveryRequest {
                        recovery_id: started.id,
                        new_secret: "190274".into(),
                        identity_document: Some(card()),
                    })
                    .await
                    .map(drop)
            }
            Rpc::GrantMandate => client
                .grant_mandate(pb::GrantMandateRequest {
                    beneficiary_id: target.id,
                    structure: "ccas-nord".into(),
                    scopes: vec![pb::Scope::Alerts as i32],
                    duration: pb::MandateDuration::OneDay as i32,
                    signature_png: signature_png(),
                    beneficiary_secret: format!("{}-secret", target.username),
                    typed_signature: String::new(),
                })
                .await
                .map(drop),
            Rpc::RequestMandateConsent => client
                .request_mandate_consent(pb::RequestMandateConsentRequest {
                    beneficiary_id: target.id,
                    scopes: vec![pb::Scope::Alerts as i32],
                    duration: pb::MandateDuration::OneDay as i32,
                })
                .await
                .map(drop),
            Rpc::ConfirmMandateConsent => {
                // Agents confirm what they asked for; anyone else tries an agent's request.
                let asker = match caller {
                    Caller::AgentMandated
                    | Caller::AgentNoMandate
                    | Caller::AgentOtherStructure => token.clone().unwrap(),
                    _ => self.agent.clone(),
                };
                let pending = self
                    .app
                    .client(Some(&asker))
                    .request_mandate_consent(pb::RequestMandateConsentRequest {
                        beneficiary_id: target.id.clone(),
                        scopes: vec![pb::Scope::Alerts as i32],
                        duration: pb::MandateDuration::OneDay as i32,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let code = self.app.smsc.last_code("+33612345678").await;
                client
                    .confirm_mandate_consent(pb::ConfirmMandateConsentRequest {
                        consent_id: pending.consent_id,
                        code,
                    })
                    .await
                    .map(drop)
            }
            Rpc::RevokeMandate => client
                .revoke_mandate(pb::RevokeMandateRequest {
                    mandate_id: target.mandate,
                    beneficiary_id: target.id,
                    scopes: Vec::new(),
                })
                .await
                .map(drop),
            Rpc::RenewMandate => client
                .renew_mandate(pb::RenewMandateRequest {
                    mandate_id: target.mandate,
                    beneficiary_id: target.id,
                    duration: pb::MandateDuration::SixMonths as i32,
                })
                .await
                .map(drop),
            Rpc::ListMandates => client
                .list_mandates(pb::ListMandatesRequest {
                    beneficiary_id: target.id,
                })
                .await
                .map(drop),
            Rpc::ListAuditTrail => client
                .list_audit_trail(pb::ListAuditTrailRequest {
                    beneficiary_id: target.id,
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::ListStructures => client
                .list_structures(pb::ListStructuresRequest {})
                .await
                .map(drop),
            Rpc::SaveStructure => client
                .save_structure(pb::SaveStructureRequest {
                    structure: Some(pb::Structure {
                        id: format!("structure-{}", target.username),
                        display_name: "Nouvelle antenne".into(),
                        kind: pb::StructureKind::Other as i32,
                    }),
                })
                .await
                .map(drop),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_by_every_caller_is_allowed_exactly_where_intended() {
    let world = World::new().await;
    let mut report = MatrixReport::default();
    for (rpc, row) in MATRIX {
        for (caller, expected) in CALLERS.iter().zip(row.chars()) {
            let outcome = world.call(*rpc, *caller).await;
            report.cell(
                rpc,
                caller,
                expected,
                *caller == Caller::Anonymous,
                &outcome,
            );
        }
    }
    report.finish(
        "passerelle.identity.v1.Identity",
        MATRIX.iter().map(|(rpc, _)| format!("{rpc:?}")),
    );
}

fn card() -> pb::IdentityDocument {
    pb::IdentityDocument {
        kind: pb::IdentityDocumentKind::IdentityCard as i32,
        number: "X4RT8B21A".into(),
    }
}

fn identity_card() -> pb::start_assisted_recovery_request::Presence {
    pb::start_assisted_recovery_request::Presence::IdentityDocument(card())
}
