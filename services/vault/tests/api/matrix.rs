//! Every vault RPC by every kind of caller, allowed exactly where docs/security.md says, and
//! every act of a mandated agent in the owner's audit trail. A flipped cell makes this fail.

use passerelle_access::{Access, Consent, Mandate, Scope};
use passerelle_kit::testing::{MatrixReport, PERSON_CALLERS as CALLERS, PersonCaller as Caller};
use passerelle_proto::vault::v1 as pb;

use crate::helpers::{App, collect, new_id, pdf, spawn_app, start, upload};

#[derive(Clone, Copy, Debug)]
enum Rpc {
    Upload,
    UploadStatus,
    Download,
    ListDocuments,
    GetDocument,
    UpdateDocument,
    DeleteDocument,
    GetUsage,
    ListProcedures,
    Checklist,
    CreateShare,
    RevokeShare,
    ListShares,
    OpenShare,
    DownloadShared,
}

/// `A` allowed, `D` denied, in the order of [`CALLERS`]; then whether a mandated agent's act
/// is written to the owner's trail.
const MATRIX: &[(Rpc, &str, bool)] = &[
    (Rpc::Upload, "DADADDDDD", true),
    (Rpc::UploadStatus, "DADADDDDD", false),
    (Rpc::Download, "DADADDDDD", true),
    (Rpc::ListDocuments, "DADADDDDD", true),
    (Rpc::GetDocument, "DADADDDDD", true),
    (Rpc::UpdateDocument, "DADADDDDD", true),
    (Rpc::DeleteDocument, "DADADDDDD", true),
    (Rpc::GetUsage, "DADADDDDD", false),
    (Rpc::ListProcedures, "AAAAAAAAA", false),
    (Rpc::Checklist, "DADADDDDD", true),
    (Rpc::CreateShare, "DADADDDDD", true),
    (Rpc::RevokeShare, "DADADDDDD", true),
    (Rpc::ListShares, "DADADDDDD", true),
    // Anyone holding the code; never in the trail (the owner's access list has it).
    (Rpc::OpenShare, "AAAAAAAAA", false),
    (Rpc::DownloadShared, "AAAAAAAAA", false),
];

/// A fresh owner with a document, a share, an upload, and a mandate.
struct Target {
    owner: String,
    doc: String,
    share_id: String,
    code: String,
    upload_id: String,
}

async fn target(app: &App, n: usize, caller: Caller) -> Target {
    let owner = format!("owner-{n}");
    let mut own = app.client(Some(&app.issuer.token(&owner, "beneficiary", None)));
    let upload_id = new_id();
    let doc = upload(
        &mut own,
        start(&upload_id, &owner, 20_000, 0),
        pdf(20_000, n as u64),
    )
    .await
    .unwrap();
    let share = own
        .create_share(pb::CreateShareRequest {
            owner_id: owner.clone(),
            document_ids: vec![doc.id.clone()],
            valid_hours: 2,
            one_time: false,
            recipient: "CAF".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let structure = if caller == Caller::AgentNoMandate {
        "ccas-sud"
    } else {
        "ccas-nord"
    };
    let now = passerelle_kit::clock::Clock::now(&passerelle_kit::clock::SystemClock);
    let mandate = Mandate::new(
        &owner,
        structure,
        [Scope::Documents, Scope::Alerts].into_iter().collect(),
        Consent::SelfService,
        now,
        86_400,
    );
    app.store.batch(vec![mandate.mutation()]).await.unwrap();
    Target {
        owner,
        doc: doc.id,
        share_id: share.id,
        code: share.code,
        upload_id,
    }
}

fn token(app: &App, caller: Caller, owner: &str) -> Option<String> {
    let t = |sub: &str, role: &str, structure: Option<&str>| {
        Some(app.issuer.token(sub, role, structure))
    };
    match caller {
        Caller::Anonymous => None,
        Caller::Person => t(owner, "beneficiary", None),
        Caller::OtherBeneficiary => t("someone-else", "beneficiary", None),
        Caller::AgentMandated | Caller::AgentNoMandate => {
            t("agent-nord", "agent", Some("ccas-nord"))
        }
        Caller::AgentOtherStructure => t("agent-sud", "agent", Some("ccas-sud")),
        Caller::Volunteer => t("volunteer-nord", "volunteer", Some("ccas-nord")),
        Caller::Manager => t("manager-nord", "manager", Some("ccas-nord")),
        Caller::Admin => t("admin-1", "admin", Some("passerelle")),
    }
}

async fn call(
    app: &App,
    rpc: Rpc,
    target: &Target,
    token: Option<&str>,
) -> Result<(), tonic::Status> {
    let mut client = app.client(token);
    let owner = target.owner.clone();
    match rpc {
        Rpc::Upload => upload(
            &mut client,
            start(&new_id(), &owner, 10_000, 0),
            pdf(10_000, 99),
        )
        .await
        .map(drop),
        Rpc::UploadStatus => client
            .upload_status(pb::UploadStatusRequest {
                upload_id: target.upload_id.clone(),
            })
            .await
            .map(drop),
        Rpc::Download => {
            let mut stream = client
                .download(pb::DownloadRequest {
                    owner_id: owner,
                    document_id: target.doc.clone(),
                })
                .await?
                .into_inner();
            match collect(&mut stream).await? {
                (_, _, Some(status)) => Err(status),
                _ => Ok(()),
            }
        }
        Rpc::ListDocuments => client
            .list_documents(pb::ListDocumentsRequest {
                owner_id: owner,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::GetDocument => client
            .get_document(pb::GetDocumentRequest {
                owner_id: owner,
                document_id: target.doc.clone(),
            })
            .await
            .map(drop),
        Rpc::UpdateDocument => client
            .update_document(pb::UpdateDocumentRequest {
                owner_id: owner,
                document_id: target.doc.clone(),
                folder: Some("Santé".into()),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::DeleteDocument => client
            .delete_document(pb::DeleteDocumentRequest {
                owner_id: owner,
                document_id: target.doc.clone(),
            })
            .await
            .map(drop),
        Rpc::GetUsage => client
            .get_usage(pb::GetUsageRequest { owner_id: owner })
            .await
            .map(drop),
        Rpc::ListProcedures => client
            .list_procedures(pb::ListProceduresRequest {})
            .await
            .map(drop),
        Rpc::Checklist => client
            .checklist(pb::ChecklistRequest {
                owner_id: owner,
                procedure_id: "rsa".into(),
            })
            .await
            .map(drop),
        Rpc::CreateShare => client
            .create_share(pb::CreateShareRequest {
                owner_id: owner,
                document_ids: vec![target.doc.clone()],
                valid_hours: 1,
                one_time: true,
                recipient: "mairie".into(),
            })
            .await
            .map(drop),
        Rpc::RevokeShare => client
            .revoke_share(pb::RevokeShareRequest {
                owner_id: owner,
                share_id: target.share_id.clone(),
            })
            .await
            .map(drop),
        Rpc::ListShares => client
            .list_shares(pb::ListSharesRequest { owner_id: owner })
            .await
            .map(drop),
        Rpc::OpenShare => client
            .open_share(pb::OpenShareRequest {
                code: target.code.clone(),
            })
            .await
            .map(drop),
        Rpc::DownloadShared => {
            let mut stream = client
                .download_shared(pb::DownloadSharedRequest {
                    code: target.code.clone(),
                    document_id: target.doc.clone(),
                })
                .await?
                .into_inner();
            match collect(&mut stream).await? {
                (_, _, Some(status)) => Err(status),
                _ => Ok(()),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_by_every_caller_is_allowed_exactly_where_intended() {
    let app = spawn_app().await;
    let access = Access::new(app.store.clone());
    let mut report = MatrixReport::default();
    let mut n = 0;
    for (rpc, row, audited) in MATRIX {
        for (caller, expected) in CALLERS.iter().zip(row.chars()) {
            n += 1;
            let target = target(&app, n, *caller).await;
            let before = access.trail(&target.owner, None, 500).await.unwrap().0;
            let token = token(&app, *caller, &target.owner);
            let outcome = call(&app, *rpc, &target, token.as_deref()).await;
            let anonymous = *caller == Caller::Anonymous;
            if report.cell(rpc, caller, expected, anonymous, &outcome)
                && *caller == Caller::AgentMandated
                && expected == 'A'
            {
                let after = access.trail(&target.owner, None, 500).await.unwrap().0;
                let written = after[before.len()..].iter();
                let entries = written.map(|e| (e.actor.as_str(), e.mandate_id.is_some()));
                report.audit(rpc, *audited, "agent-nord", entries);
            }
        }
    }
    report.finish(
        "passerelle.vault.v1.Vault",
        MATRIX.iter().map(|(rpc, _, _)| format!("{rpc:?}")),
    );
}
