//! The register's operations, with their authorization rules. No gRPC here: the
//! [`crate::grpc`] adapter parses requests into these calls.

use std::sync::Arc;

use passerelle_access::{AuditEntry, audit_mutation};
use passerelle_kit::ServiceError;
use passerelle_kit::auth::{Principal, Role};
use passerelle_kit::clock::DynClock;
use passerelle_store::{DynStore, KeyRange, Mutation, Table};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::domain::{
    CSV_HEADER, PersonInput, Problems, Registrant, RegistrantInput, Registration, csv_line,
    person_key,
};
use crate::sectors::{Sector, Sectors};

/// Registrations: partition = registration id.
const REGISTRATIONS: Table<Registration> = Table::new("alerts_registrations");
/// The register of each structure, in listing order: partition = structure, clustering =
/// [`Registration::sort_key`]; the value is the registration id.
const KEPT: Table<String> = Table::new("alerts_kept");
/// One registration per person (names and date of birth): partition = [`person_key`].
const PEOPLE: Table<Claim> = Table::new("alerts_people");
/// One registration per account: partition = account id.
const ACCOUNTS: Table<Claim> = Table::new("alerts_accounts");

/// A person or an account taken by a registration, and when: a claim younger than
/// [`CLAIM_WINDOW`] is a registration being written and is never taken over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Claim {
    id: String,
    at: i64,
}

/// How long a registration may take between its claims and its write (seconds); an older claim
/// whose registration does not hold it was left by a crash and is taken over.
const CLAIM_WINDOW: i64 = 60;

/// The largest page of the register.
pub const MAX_PAGE: usize = 100;

/// What a caller may be to the register.
enum Standing {
    /// The person, signed in with their own token.
    Person,
    /// Staff (agent or manager, own token) of this structure.
    Staff(String),
}

fn denied(message: &str) -> ServiceError {
    ServiceError::PermissionDenied(message.into())
}

fn standing(principal: &Principal) -> Result<Standing, ServiceError> {
    if principal.actor.is_some() {
        return Err(denied(
            "the register is used with one's own token, not a delegated one",
        ));
    }
    if principal.has_role(Role::Agent) || principal.has_role(Role::Manager) {
        let structure = principal
            .structure
            .clone()
            .ok_or_else(|| denied("staff must belong to a structure to use the register"))?;
        return Ok(Standing::Staff(structure));
    }
    if principal.has_role(Role::Beneficiary) {
        return Ok(Standing::Person);
    }
    Err(denied(
        "the register is read by the person, and by agents and managers of the structure keeping it",
    ))
}

/// A new or corrected registration, as typed.
#[derive(Clone, Debug, Default)]
pub struct RegistrationInput {
    pub person: PersonInput,
    pub registrant: RegistrantInput,
    pub account_id: String,
    pub sector: String,
}

#[derive(Clone)]
pub struct Alerts {
    store: DynStore,
    clock: DynClock,
    sectors: Arc<Sectors>,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts").finish_non_exhaustive()
    }
}

impl Alerts {
    pub fn new(store: DynStore, clock: DynClock, sectors: Arc<Sectors>) -> Self {
        Self {
            store,
            clock,
            sectors,
        }
    }

    pub fn sectors(&self) -> &Sectors {
        &self.sectors
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Today in France (Paris time is never more than 2 h ahead of UTC).
    fn today(&self) -> Date {
        OffsetDateTime::from_unix_timestamp(self.now() + 2 * 3600)
            .map_or(OffsetDateTime::UNIX_EPOCH.date(), |t| t.date())
    }

    /// The sector `wanted` (when given) or the postcode's.
    fn sector(&self, wanted: &str, postcode: &str, problems: &mut Problems) -> Option<&Sector> {
        let wanted = wanted.trim();
        if !wanted.is_empty() {
            let sector = self.sectors.get(wanted);
            if sector.is_none() {
                problems.add(format!(
                    "sector `{wanted}` is not one of the city's: expected one of {}",
                    self.sectors.ids()
                ));
            }
            return sector;
        }
        let sector = self.sectors.for_postcode(postcode.trim());
        if sector.is_none() && postcode.trim().len() == 5 {
            problems.add(format!(
                "address.postcode `{}` is in no sector of the city: give `sector`, one of {}",
                postcode.trim(),
                self.sectors.ids()
            ));
        }
        sector
    }

    fn audit(
        &self,
        principal: &Principal,
        registration: &Registration,
        action: &str,
        detail: &str,
    ) -> Mutation {
        audit_mutation(
            registration.trail(),
            &AuditEntry {
                at: self.now(),
                actor: principal.subject.clone(),
                actor_structure: principal.structure.clone().unwrap_or_default(),
                action: format!("alerts.{action}"),
                mandate_id: None,
                detail: detail.to_owned(),
            },
        )
    }

    /// Claims `key` of `table` for registration `id`. A claim of another registration is
    /// taken over only when it is older than [`CLAIM_WINDOW`] and its registration does not
    /// hold it (`holds`): left by a crash between the claim and the write, or by a correction
    /// that did not finish.
    async fn claim(
        &self,
        table: Table<Claim>,
        key: &str,
        id: &str,
        holds: impl Fn(&Registration) -> bool,
    ) -> Result<bool, ServiceError> {
        let now = self.now();
        let mine = Claim {
            id: id.to_owned(),
            at: now,
        };
        if table.put_if_absent(&*self.store, key, "", &mine).await? {
            return Ok(true);
        }
        let Some(held) = table.read(&*self.store, key, "").await? else {
            return Ok(table.put_if_absent(&*self.store, key, "", &mine).await?);
        };
        if held.value.id == id {
            return Ok(true);
        }
        if now - held.value.at < CLAIM_WINDOW {
            return Ok(false);
        }
        let holder = REGISTRATIONS.get(&*self.store, &held.value.id, "").await?;
        if holder.as_ref().is_some_and(&holds) {
            return Ok(false);
        }
        Ok(table
            .replace(&*self.store, (key, ""), &held, mine, None)
            .await?
            .is_some())
    }

    pub async fn register(
        &self,
        principal: &Principal,
        input: RegistrationInput,
    ) -> Result<Registration, ServiceError> {
        let standing = standing(principal)?;
        let staff = matches!(standing, Standing::Staff(_));
        let mut problems = Problems::default();
        let today = self.today();
        let person = input.person.check(today, &mut problems);
        let registrant = input
            .registrant
            .check(&principal.subject, today, &mut problems);
        let sector = self
            .sector(&input.sector, &input.person.postcode, &mut problems)
            .cloned();
        let account_id = match standing {
            Standing::Person => {
                if registrant.as_ref().is_some_and(|r| *r != Registrant::Own) {
                    problems.add("registrant: a person registers themselves (SELF); a representative or a third party registers at the counter");
                }
                Some(principal.subject.clone())
            }
            Standing::Staff(_) => {
                let id = input.account_id.trim();
                (!id.is_empty()).then(|| id.to_owned())
            }
        };
        let (Some(person), Some(registrant), Some(sector)) = (person, registrant, sector) else {
            return Err(ServiceError::InvalidArgument(problems.message()));
        };
        if !problems.is_empty() {
            return Err(ServiceError::InvalidArgument(problems.message()));
        }
        let now = self.now();
        let registration = Registration {
            id: uuid::Uuid::new_v4().to_string(),
            structure: sector.structure.clone(),
            sector: sector.id.clone(),
            account_id,
            person,
            registrant,
            registered_by: principal.subject.clone(),
            registered_at: now,
            updated_at: now,
        };
        let key = person_key(&registration.person);
        let same_person = |r: &Registration| person_key(&r.person) == key;
        if !self
            .claim(PEOPLE, &key, &registration.id, same_person)
            .await?
        {
            return Err(ServiceError::AlreadyExists(format!(
                "{} {}, born on {}, is already in the register: correct that registration instead",
                registration.person.given_name,
                registration.person.family_name,
                registration.person.birth_date
            )));
        }
        if let Some(account) = &registration.account_id
            && !self
                .claim(ACCOUNTS, account, &registration.id, |r| {
                    r.account_id.as_deref() == Some(account.as_str())
                })
                .await?
        {
            self.store.delete(PEOPLE.name(), &key, "").await?;
            return Err(ServiceError::AlreadyExists(format!(
                "account `{account}` is already in the register: correct that registration instead"
            )));
        }
        let mut batch = vec![
            REGISTRATIONS.put_mutation(&registration.id, "", &registration)?,
            KEPT.put_mutation(
                &registration.structure,
                &registration.sort_key(),
                &registration.id,
            )?,
        ];
        if staff {
            batch.push(self.audit(
                principal,
                &registration,
                "Register",
                &format!("registered in sector {}", registration.sector),
            ));
        }
        self.store.batch(batch).await?;
        Ok(registration)
    }

    /// The registration, if the caller may reach it.
    async fn reachable(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(Registration, bool), ServiceError> {
        let standing = standing(principal)?;
        let registration = REGISTRATIONS
            .get(&*self.store, id, "")
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no registration `{id}`")))?;
        match standing {
            Standing::Person if registration.account_id.as_deref() == Some(&principal.subject) => {
                Ok((registration, false))
            }
            Standing::Staff(structure) if structure == registration.structure => {
                Ok((registration, true))
            }
            Standing::Person => Err(denied("this registration is another person's")),
            Standing::Staff(_) => Err(denied(
                "this registration is kept by another structure (the sector of the person's address)",
            )),
        }
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<Registration, ServiceError> {
        let (registration, staff) = self.reachable(principal, id).await?;
        if staff {
            let entry = self.audit(principal, &registration, "GetRegistration", "read");
            self.store.batch(vec![entry]).await?;
        }
        Ok(registration)
    }

    pub async fn mine(&self, principal: &Principal) -> Result<Registration, ServiceError> {
        if !matches!(standing(principal)?, Standing::Person) {
            return Err(denied("only a beneficiary has a registration of their own"));
        }
        let not_found = || ServiceError::NotFound("you are not in the register".into());
        let id = ACCOUNTS
            .get(&*self.store, &principal.subject, "")
            .await?
            .ok_or_else(not_found)?
            .id;
        REGISTRATIONS
            .get(&*self.store, &id, "")
            .await?
            .ok_or_else(not_found)
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        input: RegistrationInput,
    ) -> Result<Registration, ServiceError> {
        let (before, staff) = self.reachable(principal, id).await?;
        let mut problems = Problems::default();
        let person = input.person.check(self.today(), &mut problems);
        let sector = self
            .sector(&input.sector, &input.person.postcode, &mut problems)
            .cloned();
        let (Some(person), Some(sector)) = (person, sector) else {
            return Err(ServiceError::InvalidArgument(problems.message()));
        };
        let mut after = before.clone();
        after.person = person;
        after.sector = sector.id.clone();
        after.structure = sector.structure.clone();
        after.updated_at = self.now();
        let (old_key, new_key) = (person_key(&before.person), person_key(&after.person));
        let same_person = |r: &Registration| person_key(&r.person) == new_key;
        if old_key != new_key && !self.claim(PEOPLE, &new_key, id, same_person).await? {
            return Err(ServiceError::AlreadyExists(format!(
                "{} {}, born on {}, is already in the register",
                after.person.given_name, after.person.family_name, after.person.birth_date
            )));
        }
        let Some(read) = REGISTRATIONS.read(&*self.store, id, "").await? else {
            return Err(ServiceError::NotFound(format!("no registration `{id}`")));
        };
        if read.value != before {
            return Err(ServiceError::Aborted(
                "the registration changed meanwhile: read it again and retry".into(),
            ));
        }
        if REGISTRATIONS
            .replace(&*self.store, (id, ""), &read, after.clone(), None)
            .await?
            .is_none()
        {
            return Err(ServiceError::Aborted(
                "the registration changed meanwhile: read it again and retry".into(),
            ));
        }
        let mut batch = Vec::new();
        if old_key != new_key {
            batch.push(Mutation::delete(PEOPLE.name(), &old_key, ""));
        }
        if (before.structure.as_str(), before.sort_key())
            != (after.structure.as_str(), after.sort_key())
        {
            batch.push(Mutation::delete(
                KEPT.name(),
                &before.structure,
                before.sort_key(),
            ));
            batch.push(KEPT.put_mutation(&after.structure, &after.sort_key(), &after.id)?);
        }
        if staff {
            let moved = if before.sector == after.sector {
                String::new()
            } else {
                format!("; moved from sector {} to {}", before.sector, after.sector)
            };
            batch.push(self.audit(
                principal,
                &after,
                "UpdateRegistration",
                &format!("corrected{moved}"),
            ));
        }
        if !batch.is_empty() {
            self.store.batch(batch).await?;
        }
        Ok(after)
    }

    pub async fn leave(&self, principal: &Principal, id: &str) -> Result<(), ServiceError> {
        let (registration, staff) = self.reachable(principal, id).await?;
        let mut batch = vec![
            Mutation::delete(REGISTRATIONS.name(), id, ""),
            Mutation::delete(
                KEPT.name(),
                &registration.structure,
                registration.sort_key(),
            ),
            Mutation::delete(PEOPLE.name(), person_key(&registration.person), ""),
        ];
        if let Some(account) = &registration.account_id {
            batch.push(Mutation::delete(ACCOUNTS.name(), account, ""));
        }
        let detail = if staff {
            "removed from the register at the person's request"
        } else {
            "left the register"
        };
        batch.push(self.audit(principal, &registration, "LeaveRegister", detail));
        self.store.batch(batch).await?;
        Ok(())
    }

    /// A page of the caller's structure's register, of `sectors` (all of the structure's when
    /// empty); every person listed gets a line in their trail.
    pub async fn list(
        &self,
        principal: &Principal,
        sectors: &[String],
        page_size: usize,
        after: Option<&str>,
    ) -> Result<(Vec<Registration>, Option<String>), ServiceError> {
        let Standing::Staff(structure) = standing(principal)? else {
            return Err(denied("only agents and managers list the register"));
        };
        for sector in sectors {
            if self
                .sectors
                .get(sector)
                .is_none_or(|s| s.structure != structure)
            {
                let own: Vec<&str> = self
                    .sectors
                    .of_structure(&structure)
                    .map(|s| s.id.as_str())
                    .collect();
                return Err(ServiceError::InvalidArgument(format!(
                    "sector `{sector}` is not one of {structure}'s: expected one of {}",
                    own.join(", ")
                )));
            }
        }
        let size = page_size.clamp(1, MAX_PAGE);
        let mut cursor = after.map(str::to_owned);
        let mut out = Vec::new();
        // Pages of the index until `size` people of the sectors asked are found.
        let next = 'pages: loop {
            let range = match &cursor {
                Some(c) => KeyRange::all().after(c),
                None => KeyRange::all(),
            };
            let (rows, more) = KEPT.scan(&*self.store, &structure, &range, size).await?;
            let more = more.is_some();
            let n = rows.len();
            for (i, (ck, id)) in rows.iter().enumerate() {
                cursor = Some(ck.clone());
                if let Some(r) = REGISTRATIONS.get(&*self.store, id, "").await?
                    && (sectors.is_empty() || sectors.contains(&r.sector))
                {
                    out.push(r);
                    if out.len() == size {
                        let rest = i + 1 < n || more;
                        break 'pages rest.then(|| ck.clone());
                    }
                }
            }
            if !more {
                break None;
            }
        };
        if !out.is_empty() {
            let batch = out
                .iter()
                .map(|r| self.audit(principal, r, "ListRegister", "listed"))
                .collect();
            self.store.batch(batch).await?;
        }
        Ok((out, next))
    }

    /// The structure's register as the prefect's CSV; the export is written to the
    /// structure's trail.
    pub async fn export(
        &self,
        principal: &Principal,
        reason: &str,
    ) -> Result<(String, usize), ServiceError> {
        let Standing::Staff(structure) = standing(principal)? else {
            return Err(denied("only a manager exports the register"));
        };
        if !principal.has_role(Role::Manager) {
            return Err(denied("only a manager exports the register"));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::InvalidArgument(
                "reason is required: why the register leaves the structure, e.g. plan canicule déclenché le 2026-07-14".into(),
            ));
        }
        let mut csv = String::from(CSV_HEADER);
        csv.push_str("\r\n");
        let mut rows = 0;
        for (_, id) in KEPT.scan_all(&*self.store, &structure).await? {
            if let Some(r) = REGISTRATIONS.get(&*self.store, &id, "").await? {
                csv.push_str(&csv_line(&r));
                csv.push_str("\r\n");
                rows += 1;
            }
        }
        let entry = AuditEntry {
            at: self.now(),
            actor: principal.subject.clone(),
            actor_structure: structure.clone(),
            action: "alerts.ExportRegister".into(),
            mandate_id: None,
            detail: format!("{rows} registrations exported: {reason}"),
        };
        self.store
            .batch(vec![audit_mutation(&register_trail(&structure), &entry)])
            .await?;
        Ok((csv, rows))
    }
}

impl Alerts {
    /// Removes the registration of an erased account (the audit trail stays, as for every
    /// erasure). Idempotent: a redelivered event finds nothing.
    pub async fn erase_account(&self, account_id: &str) -> Result<(), ServiceError> {
        let Some(Claim { id, .. }) = ACCOUNTS.get(&*self.store, account_id, "").await? else {
            return Ok(());
        };
        let mut batch = vec![Mutation::delete(ACCOUNTS.name(), account_id, "")];
        if let Some(r) = REGISTRATIONS.get(&*self.store, &id, "").await? {
            batch.push(Mutation::delete(REGISTRATIONS.name(), &id, ""));
            batch.push(Mutation::delete(KEPT.name(), &r.structure, r.sort_key()));
            batch.push(Mutation::delete(PEOPLE.name(), person_key(&r.person), ""));
        }
        self.store.batch(batch).await?;
        Ok(())
    }
}

/// The trail of acts on a structure's whole register (exports).
pub fn register_trail(structure: &str) -> String {
    format!("register:{structure}")
}
