//! Records from the log, whatever their bytes: envelopes and headers decode or say why,
//! never panic. `PROPTEST_CASES` sets how many.
#![allow(clippy::unwrap_used)]

use passerelle_bus::{Delivery, Headers, event};
use proptest::prelude::*;

use passerelle_core::testing::proptest_config as cases;

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn any_record(payload in prop::collection::vec(any::<u8>(), 0..512),
                  headers in prop::collection::vec(any::<u8>(), 0..128)) {
        let delivery = Delivery {
            topic: "passerelle.fuzz".into(),
            partition: 0,
            offset: 0,
            key: String::new(),
            payload,
            headers: Headers::decode(&headers).unwrap_or_default(),
        };
        if let Err(e) = event::decode(&delivery) {
            assert!(e.to_string().contains("not an event envelope"));
        }
    }

    #[test]
    fn headers_round_trip(pairs in prop::collection::vec(("[a-z_]{1,12}", prop::collection::vec(any::<u8>(), 0..32)), 0..8)) {
        let mut headers = Headers::default();
        for (name, value) in pairs {
            headers.insert(name, value);
        }
        assert_eq!(Headers::decode(&headers.encode()).unwrap(), headers);
    }
}
