//! Generated Rust code for Passerelle's protobuf contracts.
//!
//! # Layout
//! - `proto/passerelle/<service>/v1/*.proto`, package `passerelle.<service>.v1`,
//!   one module per package below;
//! - [`FILE_DESCRIPTOR_SET`] feeds gRPC server reflection, so grpcurl and any
//!   stock client can discover every service.

// The generated docs are the .proto comments, written for clients in any language: their lists
// follow proto style, not rustdoc's.
#![allow(clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]

/// Event envelope and payloads carried on the bus.
pub mod events {
    pub mod v1 {
        tonic::include_proto!("passerelle.events.v1");
    }
}

/// Identity service: accounts, sign-in, recovery, mandates.
pub mod identity {
    pub mod v1 {
        tonic::include_proto!("passerelle.identity.v1");
    }
}

/// Vault service: the encrypted digital safe.
pub mod vault {
    pub mod v1 {
        tonic::include_proto!("passerelle.vault.v1");
    }
}

/// Directory service: digital access points.
pub mod directory {
    pub mod v1 {
        tonic::include_proto!("passerelle.directory.v1");
    }
}

/// Analytics service: surveys, autonomy pathways, dashboards.
pub mod analytics {
    pub mod v1 {
        tonic::include_proto!("passerelle.analytics.v1");
    }
}

/// Alerts service: the heatwave register, campaigns, volunteers.
pub mod alerts {
    pub mod v1 {
        tonic::include_proto!("passerelle.alerts.v1");
    }
}

/// Platform information service.
pub mod platform {
    pub mod v1 {
        tonic::include_proto!("passerelle.platform.v1");
    }
}

/// Encoded `FileDescriptorSet` of every Passerelle proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/passerelle_descriptor.bin"));

pub use prost_types;

/// The RPC names of a service (e.g. `passerelle.identity.v1.Identity`), read from
/// [`FILE_DESCRIPTOR_SET`]: the access matrices of the tests check they cover every one.
pub fn rpc_names(service: &str) -> Vec<String> {
    use prost::Message;
    let Ok(set) = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET) else {
        return Vec::new();
    };
    let (package, name) = service.rsplit_once('.').unwrap_or(("", service));
    set.file
        .iter()
        .filter(|file| file.package() == package)
        .flat_map(|file| file.service.iter())
        .filter(|s| s.name() == name)
        .flat_map(|s| s.method.iter().map(|m| m.name().to_owned()))
        .collect()
}
