//! Who may call each RPC of the register: every RPC by every kind of caller, on a fresh
//! registration each time, with the staff reads checked in the person's audit trail.

use passerelle_access::Access;
use passerelle_kit::testing::MatrixReport;
use passerelle_proto::alerts::v1 as pb;

use crate::helpers::{App, jeanne, own, spawn_app};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rpc {
    Register,
    GetRegistration,
    MyRegistration,
    UpdateRegistration,
    LeaveRegister,
    ListRegister,
    ExportRegister,
    ListSectors,
}

/// The callers, in the order of a row's letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    /// The registered person.
    Person,
    /// Another registered beneficiary.
    OtherPerson,
    /// An agent of the structure keeping the registration (ccas-nord).
    Agent,
    /// An agent of another structure.
    AgentElsewhere,
    Volunteer,
    /// A manager of the keeping structure.
    Manager,
    ManagerElsewhere,
    Admin,
}

const CALLERS: [Caller; 9] = [
    Caller::Anonymous,
    Caller::Person,
    Caller::OtherPerson,
    Caller::Agent,
    Caller::AgentElsewhere,
    Caller::Volunteer,
    Caller::Manager,
    Caller::ManagerElsewhere,
    Caller::Admin,
];

/// `A` allowed, `D` denied; whether a keeping agent's allowed call is audited.
const MATRIX: &[(Rpc, &str, bool)] = &[
    (Rpc::Register, "DAAAADAAD", true),
    (Rpc::GetRegistration, "DADADDADD", true),
    (Rpc::MyRegistration, "DAADDDDDD", false),
    (Rpc::UpdateRegistration, "DADADDADD", true),
    (Rpc::LeaveRegister, "DADADDADD", true),
    (Rpc::ListRegister, "DDDAADAAD", true),
    (Rpc::ExportRegister, "DDDDDDAAD", false),
    (Rpc::ListSectors, "DAAAAAAAA", false),
];

fn token(app: &App, caller: Caller, n: usize) -> Option<String> {
    let (subject, role, structure) = match caller {
        Caller::Anonymous => return None,
        Caller::Person => (format!("person-{n}"), "beneficiary", None),
        Caller::OtherPerson => (format!("other-{n}"), "beneficiary", None),
        Caller::Agent => ("agent-nord".into(), "agent", Some("ccas-nord")),
        Caller::AgentElsewhere => ("agent-sud".into(), "agent", Some("ccas-sud")),
        Caller::Volunteer => ("volunteer-nord".into(), "volunteer", Some("ccas-nord")),
        Caller::Manager => ("manager-nord".into(), "manager", Some("ccas-nord")),
        Caller::ManagerElsewhere => ("manager-sud".into(), "manager", Some("ccas-sud")),
        Caller::Admin => ("admin".into(), "admin", Some("passerelle")),
    };
    Some(app.token(&subject, role, structure))
}

/// The person `n` and another person, each registered by themselves in Amiens Nord; for
/// `Register`, nobody yet (each person registers once).
async fn target(app: &App, rpc: Rpc, n: usize) -> String {
    if rpc == Rpc::Register {
        return String::new();
    }
    let mine = app
        .person(&format!("person-{n}"))
        .register(own(pb::Person {
            given_name: format!("Jeanne {n}"),
            ..jeanne()
        }))
        .await
        .unwrap()
        .into_inner();
    app.person(&format!("other-{n}"))
        .register(own(pb::Person {
            given_name: format!("Autre {n}"),
            ..jeanne()
        }))
        .await
        .unwrap();
    mine.id
}

async fn call(
    app: &App,
    rpc: Rpc,
    id: &str,
    n: usize,
    token: Option<&str>,
) -> Result<(), tonic::Status> {
    let mut client = app.client(token);
    let registration_id = id.to_owned();
    match rpc {
        Rpc::Register => client
            .register(own(pb::Person {
                given_name: format!("Nouvelle {n}"),
                ..jeanne()
            }))
            .await
            .map(drop),
        Rpc::GetRegistration => client
            .get_registration(pb::GetRegistrationRequest { registration_id })
            .await
            .map(drop),
        Rpc::MyRegistration => client
            .my_registration(pb::MyRegistrationRequest {})
            .await
            .map(drop),
        Rpc::UpdateRegistration => client
            .update_registration(pb::UpdateRegistrationRequest {
                registration_id,
                person: Some(pb::Person {
                    given_name: format!("Jeanne {n}"),
                    phones: vec!["06 12 34 56 78".into()],
                    ..jeanne()
                }),
                sector: String::new(),
            })
            .await
            .map(drop),
        Rpc::LeaveRegister => client
            .leave_register(pb::LeaveRegisterRequest { registration_id })
            .await
            .map(drop),
        Rpc::ListRegister => client
            .list_register(pb::ListRegisterRequest {
                page_size: 100,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::ExportRegister => client
            .export_register(pb::ExportRegisterRequest {
                reason: "plan canicule déclenché".into(),
            })
            .await
            .map(drop),
        Rpc::ListSectors => client
            .list_sectors(pb::ListSectorsRequest {})
            .await
            .map(drop),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_by_every_caller_is_allowed_exactly_where_intended() {
    let mut report = MatrixReport::default();
    let mut n = 0;
    for (rpc, row, audited) in MATRIX {
        for (caller, expected) in CALLERS.iter().zip(row.chars()) {
            n += 1;
            // A fresh register per cell: a list or an export sees only this cell's people.
            let app = spawn_app().await;
            let access = Access::new(app.store.clone());
            let id = target(&app, *rpc, n).await;
            let trail = format!("person-{n}");
            let before = access.trail(&trail, None, 500).await.unwrap().0;
            let token = token(&app, *caller, n);
            let outcome = call(&app, *rpc, &id, n, token.as_deref()).await;
            let anonymous = *caller == Caller::Anonymous;
            if report.cell(rpc, caller, expected, anonymous, &outcome)
                && *caller == Caller::Agent
                && expected == 'A'
                && *rpc != Rpc::Register
            {
                let after = access.trail(&trail, None, 500).await.unwrap().0;
                let written = after[before.len()..].iter();
                // Staff act by their structure's keeping of the register, not by a mandate.
                let entries = written.map(|e| (e.actor.as_str(), e.mandate_id.is_none()));
                report.audit(rpc, *audited, "agent-nord", entries);
            }
        }
    }
    report.finish(
        "passerelle.alerts.v1.Alerts",
        MATRIX.iter().map(|(rpc, _, _)| format!("{rpc:?}")),
    );
}
