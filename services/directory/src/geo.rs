//! Points on the Earth. Places are indexed as points on a sphere in 3-D (x, y, z in metres):
//! the straight-line (chord) distance between two such points grows with the distance along
//! the surface, so the R-tree's nearest neighbours are the nearest places on the ground, from
//! Dunkirk to Réunion, with no projection to distort them.

/// Mean Earth radius, metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The 3-D point of a latitude/longitude in degrees.
pub fn to_point(lat: f64, lon: f64) -> [f64; 3] {
    let (lat, lon) = (lat.to_radians(), lon.to_radians());
    [
        EARTH_RADIUS_M * lat.cos() * lon.cos(),
        EARTH_RADIUS_M * lat.cos() * lon.sin(),
        EARTH_RADIUS_M * lat.sin(),
    ]
}

/// The chord length of a distance along the surface.
pub fn chord_of(surface_m: f64) -> f64 {
    let angle = (surface_m / EARTH_RADIUS_M).min(std::f64::consts::PI);
    2.0 * EARTH_RADIUS_M * (angle / 2.0).sin()
}

/// Distance along the surface (haversine), metres.
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// Boxes around mainland France, Corsica and the overseas territories.
const FRANCE: [(&str, f64, f64, f64, f64); 10] = [
    ("mainland France and Corsica", 41.2, 51.2, -5.3, 9.7),
    ("Guadeloupe", 15.8, 16.6, -61.9, -60.9),
    ("Martinique", 14.3, 14.9, -61.3, -60.7),
    ("French Guiana", 2.0, 6.0, -54.7, -51.5),
    ("Réunion", -21.5, -20.8, 55.1, 56.0),
    ("Mayotte", -13.1, -12.5, 44.9, 45.4),
    ("Saint-Pierre-et-Miquelon", 46.7, 47.2, -56.5, -56.0),
    (
        "Saint-Martin and Saint-Barthélemy",
        17.8,
        18.2,
        -63.2,
        -62.7,
    ),
    ("New Caledonia", -23.0, -19.5, 163.5, 168.2),
    ("French Polynesia", -28.0, -7.0, -155.0, -134.0),
];

/// Refuses a coordinate outside France (and says when it looks swapped).
pub fn check_in_france(lat: f64, lon: f64) -> Result<(), crate::error::Invalid> {
    use crate::error::Invalid;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(Invalid::OutOfRange);
    }
    let inside = |la: f64, lo: f64| {
        FRANCE
            .iter()
            .any(|(_, a, b, c, d)| (*a..=*b).contains(&la) && (*c..=*d).contains(&lo))
    };
    if inside(lat, lon) {
        return Ok(());
    }
    if inside(lon, lat) {
        return Err(Invalid::Swapped);
    }
    Err(Invalid::NotInFrance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_chords_agree() {
        // Amiens to Paris: about 115 km.
        let d = distance_m(49.8942, 2.2957, 48.8566, 2.3522);
        assert!((d - 115_500.0).abs() < 1_500.0, "{d}");
        let (a, b) = (to_point(49.8942, 2.2957), to_point(48.8566, 2.3522));
        let chord = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
        assert!(
            (chord - chord_of(d)).abs() < 1.0,
            "{chord} vs {}",
            chord_of(d)
        );
    }

    #[test]
    fn coordinates_must_be_in_france() {
        assert!(check_in_france(49.8942, 2.2957).is_ok());
        assert!(check_in_france(-21.115, 55.536).is_ok(), "Réunion");
        assert!(
            check_in_france(2.2957, 49.8942)
                .unwrap_err()
                .to_string()
                .contains("swapped")
        );
        assert!(
            check_in_france(40.7, -74.0)
                .unwrap_err()
                .to_string()
                .contains("is not in France")
        );
        assert!(
            check_in_france(148.2, 2.0)
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
    }
}
