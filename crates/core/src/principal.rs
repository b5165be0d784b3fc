//! Who is calling, as a verified token says: the person, their roles, their structure, and the
//! agent acting for them. Verifying the token is the kit's (`passerelle_kit::auth`); every crate
//! that decides who may do what reads this.

use crate::error::ServiceError;

/// The roles Passerelle knows. Other roles in a token (Keycloak adds `offline_access`,
/// `default-roles-…`) are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Beneficiary,
    Agent,
    Volunteer,
    Manager,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Beneficiary,
        Role::Agent,
        Role::Volunteer,
        Role::Manager,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Beneficiary => "beneficiary",
            Role::Agent => "agent",
            Role::Volunteer => "volunteer",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling, as the verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The person the request is about and for (`sub`).
    pub subject: String,
    pub roles: Vec<Role>,
    /// The structure (CCAS antenna, France Services, association) of an agent or volunteer.
    pub structure: Option<String>,
    /// The agent acting on the subject's behalf, when there is one (`act.sub`).
    pub actor: Option<String>,
    /// The client the token was issued to (`azp`).
    pub client: Option<String>,
    /// The token id (`jti`), for audit trails.
    pub token_id: Option<String>,
    /// OAuth scopes (`scope`, space-separated). On a delegated token, the mandate scopes the
    /// actor may use.
    pub scopes: Vec<String>,
    /// When the person signed in (`auth_time`, else the token's `iat`), Unix seconds: renewed
    /// tokens keep it, so a session cannot outlive its bound by renewing.
    pub signed_in_at: Option<i64>,
}

impl Principal {
    /// The platform itself, acting as an admin of its own (the first admin's creation, erasures
    /// replayed after a restore): never a token, never a person.
    pub fn system() -> Self {
        Self {
            subject: "system".into(),
            roles: vec![Role::Admin],
            structure: Some("passerelle".into()),
            actor: None,
            client: None,
            token_id: None,
            scopes: Vec::new(),
            signed_in_at: None,
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Fails with PERMISSION_DENIED unless the principal holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ServiceError> {
        if roles.iter().any(|r| self.has_role(*r)) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ServiceError::PermissionDenied(format!(
                "this needs one of the roles {}",
                names.join(", ")
            )))
        }
    }
}
