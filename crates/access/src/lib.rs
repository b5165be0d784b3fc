//! Who may act for a beneficiary, and the record of every such act.
//!
//! A beneficiary grants a structure (a CCAS antenna, a France Services, an association) a
//! [`Mandate`]: some [`Scope`]s, for a fixed period, revocable scope by scope. Its agents then
//! act for the beneficiary within those scopes — and only while the mandate is live, checked at
//! every act, so a revocation cuts access at once rather than when a token expires. Every act
//! under a mandate lands in the beneficiary's audit trail.
//!
//! The identity service writes mandates; every service reads them through [`Access`], from the
//! store all services share.
//!
//! # Layout
//! - [`Scope`], [`Mandate`], [`Consent`]: the model and its rules;
//! - [`Access`]: authorization of a principal against a beneficiary's data, and the audit trail;
//! - [`codes`]: codes people type to get access (recovery, sharing);
//! - [`throttle`]: brute-force protection for whatever can be guessed.
#![forbid(unsafe_code)]

pub mod codes;
pub mod throttle;

use std::collections::BTreeSet;

use passerelle_core::ServiceError;
use passerelle_core::principal::{Principal, Role};
use passerelle_store::{DynStore, KeyRange, Mutation, Row};
use serde::{Deserialize, Serialize};

/// The store table of mandates: partition = beneficiary id, clustering = mandate id.
pub const MANDATES_TABLE: &str = "mandates";
/// The store table of audit entries: partition = beneficiary id, clustering = UUIDv7.
pub const AUDIT_TABLE: &str = "audit_trail";

/// What a mandate lets a structure do for the beneficiary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The digital safe: see, add and share documents.
    Documents,
    /// The heatwave register: register, update, follow up.
    Alerts,
    /// Book interpreters.
    Interpreting,
    /// Autonomy pathways: assign, follow.
    Pathways,
    /// Administrative procedures and the account's contact details.
    Procedures,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Documents,
        Scope::Alerts,
        Scope::Interpreting,
        Scope::Pathways,
        Scope::Procedures,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Documents => "documents",
            Scope::Alerts => "alerts",
            Scope::Interpreting => "interpreting",
            Scope::Pathways => "pathways",
            Scope::Procedures => "procedures",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// In plain French, as the beneficiary reads it.
    pub fn label_fr(self) -> &'static str {
        match self {
            Scope::Documents => "voir et gérer vos documents",
            Scope::Alerts => "vous inscrire et vous suivre pendant les alertes canicule",
            Scope::Interpreting => "réserver un interprète pour vous",
            Scope::Pathways => "suivre votre parcours d'autonomie numérique",
            Scope::Procedures => "faire vos démarches et mettre à jour vos coordonnées",
        }
    }
}

/// How the beneficiary consented.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Consent {
    /// Signed at the desk; the agent recorded the signature.
    InPerson {
        agent: String,
        /// SHA-256 of the signature image, which is kept apart as proof.
        signature_sha256: Option<String>,
    },
    /// The beneficiary granted it from their own account.
    SelfService,
    /// The beneficiary read back a code sent by SMS.
    Sms { agent: String },
}

impl Consent {
    pub fn kind(&self) -> &'static str {
        match self {
            Consent::InPerson { .. } => "in_person",
            Consent::SelfService => "self",
            Consent::Sms { .. } => "sms",
        }
    }

    pub fn recorded_by(&self) -> Option<&str> {
        match self {
            Consent::InPerson { agent, .. } | Consent::Sms { agent } => Some(agent),
            Consent::SelfService => None,
        }
    }
}

/// A beneficiary's mandate to a structure. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mandate {
    pub id: String,
    pub beneficiary_id: String,
    pub structure: String,
    /// Scopes still in force.
    pub scopes: BTreeSet<Scope>,
    pub granted_at: i64,
    pub expires_at: i64,
    pub consent: Consent,
    /// Set when the whole mandate was revoked.
    pub revoked_at: Option<i64>,
    /// Set once the expiry has been announced, so it is announced once.
    #[serde(default)]
    pub expiry_announced: bool,
}

impl Mandate {
    /// A new mandate, granted at `now` for `lifetime_seconds`.
    pub fn new(
        beneficiary_id: &str,
        structure: &str,
        scopes: BTreeSet<Scope>,
        consent: Consent,
        now: i64,
        lifetime_seconds: i64,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            beneficiary_id: beneficiary_id.to_owned(),
            structure: structure.to_owned(),
            scopes,
            granted_at: now,
            expires_at: now + lifetime_seconds,
            consent,
            revoked_at: None,
            expiry_announced: false,
        }
    }

    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && !self.scopes.is_empty()
    }

    pub fn holds(&self, scope: Scope, now: i64) -> bool {
        self.is_live(now) && self.scopes.contains(&scope)
    }

    /// The mandate in plain French words, for the beneficiary.
    /// The mandate in plain French for the person, naming the structure as `structure_name`
    /// (its display name in the registry).
    pub fn summary_fr(&self, now: i64, structure_name: &str) -> String {
        let what: Vec<&str> = self.scopes.iter().map(|s| s.label_fr()).collect();
        let state = if self.revoked_at.is_some() || self.scopes.is_empty() {
            "Cette autorisation a été retirée.".to_owned()
        } else if now >= self.expires_at {
            "Cette autorisation est terminée.".to_owned()
        } else {
            let days = (self.expires_at - now + 86_399) / 86_400;
            format!(
                "Elle prend fin dans {days} jour{}.",
                if days > 1 { "s" } else { "" }
            )
        };
        if what.is_empty() {
            return format!("{structure_name} n'a plus d'autorisation. {state}");
        }
        format!(
            "Vous autorisez {structure_name} à {}. {state} Vous pouvez la retirer quand vous voulez.",
            join_fr(&what)
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ServiceError> {
        serde_json::from_slice(bytes)
            .map_err(|e| ServiceError::Internal(format!("mandate record does not decode: {e}")))
    }

    /// The store mutation that writes this mandate.
    pub fn mutation(&self) -> Mutation {
        Mutation::Put(Row::new(
            MANDATES_TABLE,
            &self.beneficiary_id,
            &self.id,
            self.encode(),
        ))
    }
}

fn join_fr(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} et {last}", rest.join(", ")),
    }
}

/// One line of a beneficiary's audit trail. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub actor_structure: String,
    /// `service.Action`, e.g. `identity.UpdateAccount`.
    pub action: String,
    pub mandate_id: Option<String>,
    pub detail: String,
}

/// How a principal reaches a beneficiary's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// The beneficiary, for themselves.
    Own,
    /// An agent or volunteer, under this mandate.
    Mandate {
        mandate_id: String,
        actor: String,
        structure: String,
    },
}

/// Reads mandates and writes the audit trail.
#[derive(Clone)]
pub struct Access {
    store: DynStore,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Access")
    }
}

fn store_error(e: passerelle_store::Error) -> ServiceError {
    ServiceError::Unavailable(format!("the store did not answer: {e}"))
}

impl Access {
    pub fn new(store: DynStore) -> Self {
        Self { store }
    }

    /// Every mandate of a beneficiary, live or not.
    pub async fn mandates(&self, beneficiary: &str) -> Result<Vec<Mandate>, ServiceError> {
        let mut out = Vec::new();
        let rows = self
            .store
            .scan_all(MANDATES_TABLE, beneficiary)
            .await
            .map_err(store_error)?;
        for (_, bytes) in &rows {
            out.push(Mandate::decode(bytes)?);
        }
        Ok(out)
    }

    pub async fn mandate(
        &self,
        beneficiary: &str,
        mandate_id: &str,
    ) -> Result<Option<Mandate>, ServiceError> {
        let bytes = self
            .store
            .get(MANDATES_TABLE, beneficiary, mandate_id)
            .await
            .map_err(store_error)?;
        bytes.map(|b| Mandate::decode(&b)).transpose()
    }

    /// May `principal` act on `beneficiary`'s data within `scope`?
    ///
    /// - the beneficiary themselves, with their own token: yes;
    /// - an agent (with their own token, or a delegated token naming them in `act`): only
    ///   under a mandate live now, to their structure, holding `scope`; a volunteer likewise,
    ///   for `alerts` only;
    /// - anyone else: no.
    pub async fn authorize(
        &self,
        principal: &Principal,
        beneficiary: &str,
        scope: Scope,
        now: i64,
    ) -> Result<Grant, ServiceError> {
        self.authorize_among(principal, beneficiary, &[scope], now)
            .await
    }

    /// Like [`Access::authorize`], for an act any live mandate allows, whatever its scope
    /// (reading the person's account): the person's mandates are read once, and a refusal says
    /// that a mandate of any kind would do.
    pub async fn authorize_any(
        &self,
        principal: &Principal,
        beneficiary: &str,
        now: i64,
    ) -> Result<Grant, ServiceError> {
        self.authorize_among(principal, beneficiary, &Scope::ALL, now)
            .await
    }

    /// May `principal` act on `beneficiary`'s data under one of `scopes`?
    async fn authorize_among(
        &self,
        principal: &Principal,
        beneficiary: &str,
        scopes: &[Scope],
        now: i64,
    ) -> Result<Grant, ServiceError> {
        let names = |scopes: &[Scope]| {
            scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let delegated = principal.actor.is_some();
        if !delegated && principal.subject == beneficiary && principal.has_role(Role::Beneficiary) {
            return Ok(Grant::Own);
        }
        let mut scopes: Vec<Scope> = scopes.to_vec();
        let actor = if let Some(actor) = &principal.actor {
            // A delegated token is about its subject only, and only for the scopes it names.
            if principal.subject != beneficiary {
                return Err(denied("this delegated token is for another person"));
            }
            let asked = names(&scopes);
            scopes.retain(|s| principal.scopes.iter().any(|t| t == s.as_str()));
            if scopes.is_empty() {
                return Err(denied(&format!(
                    "this delegated token does not cover `{asked}`"
                )));
            }
            actor.clone()
        } else if principal.has_role(Role::Agent) {
            principal.subject.clone()
        } else if principal.has_role(Role::Volunteer) {
            // Volunteers call and visit people during heatwaves; nothing else of theirs.
            if !scopes.contains(&Scope::Alerts) {
                return Err(denied(
                    "volunteers act for someone only for heatwave follow-up (`alerts`)",
                ));
            }
            scopes = vec![Scope::Alerts];
            principal.subject.clone()
        } else {
            return Err(denied("only the person or a mandated agent may do this"));
        };
        let Some(structure) = principal.structure.clone() else {
            return Err(denied(
                "an agent acting for someone must belong to a structure",
            ));
        };
        let mandate = self
            .mandates(beneficiary)
            .await?
            .into_iter()
            .filter(|m| m.structure == structure && scopes.iter().any(|s| m.holds(*s, now)))
            .max_by_key(|m| m.expires_at)
            .ok_or_else(|| match scopes.as_slice() {
                [scope] => denied(&format!(
                    "no live mandate from this person to {structure} covers `{}`",
                    scope.as_str()
                )),
                scopes => denied(&format!(
                    "this person has given {structure} no live mandate: a mandate of any kind ({}) would do",
                    names(scopes)
                )),
            })?;
        Ok(Grant::Mandate {
            mandate_id: mandate.id,
            actor,
            structure,
        })
    }

    /// The mutation recording `action` in the beneficiary's trail when it was done under a
    /// mandate (acts of the person themselves are not audited there). Put it in the same batch
    /// as the act.
    pub fn audit(
        &self,
        beneficiary: &str,
        grant: &Grant,
        action: &str,
        detail: &str,
        now: i64,
    ) -> Option<Mutation> {
        let Grant::Mandate {
            mandate_id,
            actor,
            structure,
        } = grant
        else {
            return None;
        };
        Some(audit_mutation(
            beneficiary,
            &AuditEntry {
                at: now,
                actor: actor.clone(),
                actor_structure: structure.clone(),
                action: action.to_owned(),
                mandate_id: Some(mandate_id.clone()),
                detail: detail.to_owned(),
            },
        ))
    }

    /// Writes an audit entry on its own (for acts with no state change, like a read).
    pub async fn record(&self, beneficiary: &str, entry: &AuditEntry) -> Result<(), ServiceError> {
        self.store
            .batch(vec![audit_mutation(beneficiary, entry)])
            .await
            .map_err(store_error)
    }

    /// A page of the trail, oldest first. `after` is the cursor a previous page returned.
    pub async fn trail(
        &self,
        beneficiary: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<String>), ServiceError> {
        let range = match after {
            Some(cursor) => KeyRange::all().after(cursor),
            None => KeyRange::all(),
        };
        let page = self
            .store
            .scan(AUDIT_TABLE, beneficiary, &range, limit.clamp(1, 500))
            .await
            .map_err(store_error)?;
        let next = page
            .next
            .as_ref()
            .and(page.rows.last().map(|(ck, _)| ck.clone()));
        let entries = page
            .rows
            .iter()
            .map(|(_, bytes)| {
                serde_json::from_slice(bytes).map_err(|e| {
                    ServiceError::Internal(format!("audit entry does not decode: {e}"))
                })
            })
            .collect::<Result<Vec<AuditEntry>, _>>()?;
        Ok((entries, next))
    }
}

/// The mutation appending `entry` to `beneficiary`'s trail.
pub fn audit_mutation(beneficiary: &str, entry: &AuditEntry) -> Mutation {
    Mutation::Put(Row::new(
        AUDIT_TABLE,
        beneficiary,
        uuid::Uuid::now_v7().to_string(),
        serde_json::to_vec(entry).unwrap_or_default(),
    ))
}

fn denied(reason: &str) -> ServiceError {
    ServiceError::PermissionDenied(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mandate(scopes: &[Scope], expires_at: i64) -> Mandate {
        Mandate {
            id: "m1".into(),
            beneficiary_id: "b1".into(),
            structure: "ccas-nord".into(),
            scopes: scopes.iter().copied().collect(),
            granted_at: 0,
            expires_at,
            consent: Consent::SelfService,
            revoked_at: None,
            expiry_announced: false,
        }
    }

    #[test]
    fn a_mandate_holds_its_scopes_until_it_ends() {
        let m = mandate(&[Scope::Documents], 100);
        assert!(m.holds(Scope::Documents, 99));
        assert!(!m.holds(Scope::Documents, 100), "ends at expires_at");
        assert!(!m.holds(Scope::Alerts, 50));
        let mut revoked = m.clone();
        revoked.revoked_at = Some(10);
        assert!(!revoked.is_live(50));
        assert!(
            !mandate(&[], 100).is_live(50),
            "no scope left, nothing live"
        );
    }

    #[test]
    fn the_summary_speaks_plain_french() {
        let m = mandate(&[Scope::Documents, Scope::Procedures], 86_400 * 30);
        assert_eq!(
            m.summary_fr(0, "CCAS d'Amiens, antenne Nord"),
            "Vous autorisez CCAS d'Amiens, antenne Nord à voir et gérer vos documents et faire vos démarches et mettre à jour vos coordonnées. Elle prend fin dans 30 jours. Vous pouvez la retirer quand vous voulez."
        );
        assert!(m.summary_fr(86_400 * 31, "ccas-nord").contains("terminée"));
    }
}
