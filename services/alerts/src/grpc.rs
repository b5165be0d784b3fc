//! `passerelle.alerts.v1.Alerts` over gRPC: requests parsed into the service's calls, results
//! mapped back.

use passerelle_kit::grpc::{Reply, caller, invalid, ok, required};
use passerelle_proto::alerts::v1 as pb;
use passerelle_proto::alerts::v1::alerts_server::{Alerts as AlertsRpc, AlertsServer};
use tonic::{Request, Status};

use crate::domain::{
    Capacity, ConsentForm, PersonInput, Registrant, RegistrantInput, RegistrantKind, Registration,
    ThirdPartyKind,
};
use crate::service::{Alerts, RegistrationInput};

#[derive(Clone, Debug)]
pub struct AlertsGrpc {
    service: Alerts,
}

impl AlertsGrpc {
    pub fn new(service: Alerts) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> AlertsServer<Self> {
        AlertsServer::new(self).max_decoding_message_size(64 * 1024)
    }
}

/// An enum value of the request, `None` when unspecified, INVALID_ARGUMENT when unknown.
fn enum_value<E: TryFrom<i32>, T>(
    field: &str,
    raw: i32,
    accepted: &str,
    map: impl Fn(E) -> Option<T>,
) -> Result<Option<T>, Status> {
    match E::try_from(raw) {
        Ok(value) => Ok(map(value)),
        Err(_) => Err(invalid(format!(
            "{field} {raw} is not accepted: expected {accepted}"
        ))),
    }
}

fn person_input(person: Option<pb::Person>) -> Result<PersonInput, Status> {
    let person = person.ok_or_else(|| invalid("person is required"))?;
    let address = person.address.unwrap_or_default();
    let contact = person.emergency_contact.unwrap_or_default();
    let capacity = enum_value(
        "capacity",
        person.capacity,
        "SENIOR, UNFIT_FOR_WORK or DISABLED_ADULT",
        |c: pb::Capacity| match c {
            pb::Capacity::Unspecified => None,
            pb::Capacity::Senior => Some(Capacity::Senior),
            pb::Capacity::UnfitForWork => Some(Capacity::UnfitForWork),
            pb::Capacity::DisabledAdult => Some(Capacity::DisabledAdult),
        },
    )?;
    Ok(PersonInput {
        family_name: person.family_name,
        given_name: person.given_name,
        birth_date: person.birth_date,
        line: address.line,
        postcode: address.postcode,
        commune: address.commune,
        phones: person.phones,
        capacity,
        home_care_service: person.home_care_service,
        emergency_name: contact.name,
        emergency_phone: contact.phone,
    })
}

fn registrant_input(request: &pb::RegisterRequest) -> Result<RegistrantInput, Status> {
    let kind = enum_value(
        "registrant",
        request.registrant,
        "SELF, LEGAL_REPRESENTATIVE or THIRD_PARTY",
        |r: pb::Registrant| match r {
            pb::Registrant::Unspecified => None,
            pb::Registrant::Self_ => Some(RegistrantKind::Own),
            pb::Registrant::LegalRepresentative => Some(RegistrantKind::LegalRepresentative),
            pb::Registrant::ThirdParty => Some(RegistrantKind::ThirdParty),
        },
    )?;
    let third_party = enum_value(
        "third_party",
        request.third_party,
        "DOCTOR, RELATIVE, HOME_CARE_SERVICE, NEIGHBOUR or OTHER",
        |t: pb::ThirdParty| match t {
            pb::ThirdParty::Unspecified => None,
            pb::ThirdParty::Doctor => Some(ThirdPartyKind::Doctor),
            pb::ThirdParty::Relative => Some(ThirdPartyKind::Relative),
            pb::ThirdParty::HomeCareService => Some(ThirdPartyKind::HomeCareService),
            pb::ThirdParty::Neighbour => Some(ThirdPartyKind::Neighbour),
            pb::ThirdParty::Other => Some(ThirdPartyKind::Other),
        },
    )?;
    let consent = request.consent.clone().unwrap_or_default();
    let consent_form = enum_value(
        "consent.form",
        consent.form,
        "WRITTEN or ORAL",
        |f: pb::ConsentForm| match f {
            pb::ConsentForm::Unspecified => None,
            pb::ConsentForm::Written => Some(ConsentForm::Written),
            pb::ConsentForm::Oral => Some(ConsentForm::Oral),
        },
    )?;
    Ok(RegistrantInput {
        kind,
        third_party,
        name: request.registrant_name.clone(),
        consent_form,
        consent_given_on: consent.given_on,
    })
}

fn capacity_pb(c: Capacity) -> pb::Capacity {
    match c {
        Capacity::Senior => pb::Capacity::Senior,
        Capacity::UnfitForWork => pb::Capacity::UnfitForWork,
        Capacity::DisabledAdult => pb::Capacity::DisabledAdult,
    }
}

fn third_party_pb(t: ThirdPartyKind) -> pb::ThirdParty {
    match t {
        ThirdPartyKind::Doctor => pb::ThirdParty::Doctor,
        ThirdPartyKind::Relative => pb::ThirdParty::Relative,
        ThirdPartyKind::HomeCareService => pb::ThirdParty::HomeCareService,
        ThirdPartyKind::Neighbour => pb::ThirdParty::Neighbour,
        ThirdPartyKind::Other => pb::ThirdParty::Other,
    }
}

pub fn to_pb(r: Registration) -> pb::Registration {
    let p = r.person;
    let (registrant, third_party, registrant_name, consent) = match r.registrant {
        Registrant::Own => (pb::Registrant::Self_, None, String::new(), None),
        Registrant::LegalRepresentative { name } => {
            (pb::Registrant::LegalRepresentative, None, name, None)
        }
        Registrant::ThirdParty {
            kind,
            name,
            consent,
        } => (
            pb::Registrant::ThirdParty,
            Some(third_party_pb(kind)),
            name,
            Some(pb::Consent {
                form: match consent.form {
                    ConsentForm::Written => pb::ConsentForm::Written,
                    ConsentForm::Oral => pb::ConsentForm::Oral,
                } as i32,
                given_on: consent.given_on,
                recorded_by: consent.recorded_by,
            }),
        ),
    };
    pb::Registration {
        id: r.id,
        structure: r.structure,
        sector: r.sector,
        account_id: r.account_id.unwrap_or_default(),
        person: Some(pb::Person {
            family_name: p.family_name,
            given_name: p.given_name,
            birth_date: p.birth_date,
            address: Some(pb::Address {
                line: p.address.line,
                postcode: p.address.postcode,
                commune: p.address.commune,
            }),
            phones: p.phones.iter().map(|x| x.as_str().to_owned()).collect(),
            capacity: capacity_pb(p.capacity) as i32,
            home_care_service: p.home_care_service.unwrap_or_default(),
            emergency_contact: p.emergency_contact.map(|c| pb::Contact {
                name: c.name,
                phone: c.phone.as_str().to_owned(),
            }),
        }),
        registrant: registrant as i32,
        third_party: third_party.map_or(0, |t| t as i32),
        registrant_name,
        consent,
        registered_by: r.registered_by,
        registered_at: r.registered_at,
        updated_at: r.updated_at,
    }
}

#[tonic::async_trait]
impl AlertsRpc for AlertsGrpc {
    async fn register(&self, request: Request<pb::RegisterRequest>) -> Reply<pb::Registration> {
        let (principal, request) = caller(request)?;
        let input = RegistrationInput {
            registrant: registrant_input(&request)?,
            person: person_input(request.person)?,
            account_id: request.account_id,
            sector: request.sector,
        };
        ok(to_pb(self.service.register(&principal, input).await?))
    }

    async fn get_registration(
        &self,
        request: Request<pb::GetRegistrationRequest>,
    ) -> Reply<pb::Registration> {
        let (principal, request) = caller(request)?;
        let id = required("registration_id", &request.registration_id)?;
        ok(to_pb(self.service.get(&principal, id).await?))
    }

    async fn my_registration(
        &self,
        request: Request<pb::MyRegistrationRequest>,
    ) -> Reply<pb::Registration> {
        let (principal, _) = caller(request)?;
        ok(to_pb(self.service.mine(&principal).await?))
    }

    async fn update_registration(
        &self,
        request: Request<pb::UpdateRegistrationRequest>,
    ) -> Reply<pb::Registration> {
        let (principal, request) = caller(request)?;
        let id = required("registration_id", &request.registration_id)?.to_owned();
        let input = RegistrationInput {
            person: person_input(request.person)?,
            sector: request.sector,
            ..Default::default()
        };
        ok(to_pb(self.service.update(&principal, &id, input).await?))
    }

    async fn leave_register(
        &self,
        request: Request<pb::LeaveRegisterRequest>,
    ) -> Reply<pb::LeaveRegisterReply> {
        let (principal, request) = caller(request)?;
        let id = required("registration_id", &request.registration_id)?;
        self.service.leave(&principal, id).await?;
        ok(pb::LeaveRegisterReply {})
    }

    async fn list_register(
        &self,
        request: Request<pb::ListRegisterRequest>,
    ) -> Reply<pb::ListRegisterReply> {
        let (principal, request) = caller(request)?;
        let size = match request.page_size {
            0 => 50,
            n => n as usize,
        };
        let after = Some(request.page_token.as_str()).filter(|t| !t.is_empty());
        let (registrations, next) = self
            .service
            .list(&principal, &request.sectors, size, after)
            .await?;
        ok(pb::ListRegisterReply {
            registrations: registrations.into_iter().map(to_pb).collect(),
            next_page_token: next.unwrap_or_default(),
        })
    }

    async fn export_register(
        &self,
        request: Request<pb::ExportRegisterRequest>,
    ) -> Reply<pb::ExportRegisterReply> {
        let (principal, request) = caller(request)?;
        let (csv, rows) = self.service.export(&principal, &request.reason).await?;
        ok(pb::ExportRegisterReply {
            csv: csv.into_bytes(),
            rows: rows as u32,
        })
    }

    async fn list_sectors(
        &self,
        request: Request<pb::ListSectorsRequest>,
    ) -> Reply<pb::ListSectorsReply> {
        caller(request)?;
        ok(pb::ListSectorsReply {
            sectors: self
                .service
                .sectors()
                .all()
                .iter()
                .map(|s| pb::Sector {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    structure: s.structure.clone(),
                    postcodes: s.postcodes.clone(),
                })
                .collect(),
        })
    }
}
