//! Events as they travel: a protobuf [`Envelope`] in the record payload, keyed by aggregate id,
//! with the event id, type, producer and the W3C trace context in the record headers.

use std::time::SystemTime;

use passerelle_proto::events::v1::Envelope;
use prost::Message;

use crate::{Delivery, Error, Headers, Record, Result};

pub const HEADER_EVENT_ID: &str = "event_id";
pub const HEADER_EVENT_TYPE: &str = "event_type";
pub const HEADER_PRODUCER: &str = "producer";

/// The topic a service produces to: `passerelle.<service>`.
pub fn topic_of(producer: &str) -> String {
    format!("passerelle.{producer}")
}

/// A new event from `producer` about `aggregate_id`, ready to append or to put in the outbox.
/// The current span's trace context goes along in the headers.
pub fn new_record(
    producer: &str,
    event_type: &str,
    aggregate_id: &str,
    payload: &impl Message,
) -> (Envelope, Record) {
    let envelope = Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: event_type.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        occurred_at: Some(prost_types_timestamp(SystemTime::now())),
        producer: producer.to_owned(),
        payload: payload.encode_to_vec(),
    };
    let record = to_record(&topic_of(producer), &envelope);
    (envelope, record)
}

/// The payload of `envelope` as `M` when the event is of that type (events are named from
/// their protobuf type), `None` when it is another event.
pub fn payload<M: Message + Default + prost::Name>(
    envelope: &Envelope,
) -> Result<Option<M>, prost::DecodeError> {
    if envelope.event_type != M::full_name() {
        return Ok(None);
    }
    M::decode(envelope.payload.as_slice()).map(Some)
}

/// The bus record carrying `envelope` on `topic`.
pub fn to_record(topic: &str, envelope: &Envelope) -> Record {
    let mut headers = Headers::default();
    headers.insert(HEADER_EVENT_ID, envelope.event_id.as_bytes());
    headers.insert(HEADER_EVENT_TYPE, envelope.event_type.as_bytes());
    headers.insert(HEADER_PRODUCER, envelope.producer.as_bytes());
    for (name, value) in passerelle_core::trace::current_trace_headers() {
        headers.insert(name, value.into_bytes());
    }
    Record {
        topic: topic.to_owned(),
        key: envelope.aggregate_id.clone(),
        payload: envelope.encode_to_vec(),
        headers,
    }
}

/// Decodes the envelope a delivery carries.
pub fn decode(delivery: &Delivery) -> Result<Envelope> {
    Envelope::decode(delivery.payload.as_slice()).map_err(|e| {
        Error::Corrupt(format!(
            "{}/{}@{} is not an event envelope: {e}",
            delivery.topic, delivery.partition, delivery.offset
        ))
    })
}

/// Makes `span` a child of the trace that produced `delivery`.
pub fn follow_trace(span: &tracing::Span, delivery: &Delivery) {
    passerelle_core::trace::set_parent_from(span, |name| delivery.headers.get_str(name));
}

fn prost_types_timestamp(time: SystemTime) -> passerelle_proto::prost_types::Timestamp {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    passerelle_proto::prost_types::Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_carries_its_envelope_and_ids() {
        let payload = passerelle_proto::events::v1::Envelope::default();
        let (envelope, record) = new_record("identity", "test.Created", "person-1", &payload);
        assert_eq!(record.topic, "passerelle.identity");
        assert_eq!(record.key, "person-1");
        assert_eq!(
            record.headers.get_str(HEADER_EVENT_ID),
            Some(envelope.event_id.as_str())
        );
        assert_eq!(
            record.headers.get_str(HEADER_EVENT_TYPE),
            Some("test.Created")
        );
        let delivery = Delivery {
            topic: record.topic.clone(),
            partition: 0,
            offset: 0,
            key: record.key.clone(),
            payload: record.payload.clone(),
            headers: record.headers.clone(),
        };
        assert_eq!(decode(&delivery).unwrap(), envelope);
        let corrupt = Delivery {
            payload: vec![0xff, 0xff],
            ..delivery
        };
        assert!(
            decode(&corrupt)
                .unwrap_err()
                .to_string()
                .contains("not an event envelope")
        );
    }
}
