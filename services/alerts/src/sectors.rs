//! The city's sectors: which postcodes each covers and which structure keeps its registrations.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The example city's sectors (`deploy/sectors.example.toml`): what a platform started without
/// a sector file uses.
pub const EXAMPLE_SECTORS: &str = include_str!("../../../deploy/sectors.example.toml");

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sector {
    pub id: String,
    pub name: String,
    pub structure: String,
    pub postcodes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "sector")]
    sectors: Vec<Sector>,
}

/// A sector file that cannot be used, said with what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectorsError {
    #[error("the sector file does not read: {0}")]
    Toml(String),
    #[error("the sector file has no [[sector]]: expected at least one")]
    Empty,
    #[error("sector id `{0}` is not accepted: expected 2 to 64 lowercase letters, digits or `-`")]
    Id(String),
    #[error("sector `{0}` is listed twice")]
    Twice(String),
    #[error("sector `{0}` has no name")]
    Name(String),
    #[error(
        "sector `{sector}`: structure `{structure}` is not an id: expected 2 to 64 lowercase letters, digits or `-`"
    )]
    Structure { sector: String, structure: String },
    #[error("sector `{sector}`: postcode `{postcode}` is not 5 digits")]
    Postcode { sector: String, postcode: String },
    #[error(
        "postcode `{postcode}` is in sectors `{first}` and `{second}`: a postcode belongs to one sector"
    )]
    Shared {
        postcode: String,
        first: String,
        second: String,
    },
}

fn is_id(id: &str) -> bool {
    (2..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The sectors, checked: ids unique, each postcode in one sector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sectors {
    list: Vec<Sector>,
    by_postcode: BTreeMap<String, usize>,
}

impl Sectors {
    pub fn parse(text: &str) -> Result<Self, SectorsError> {
        let file: File = toml::from_str(text).map_err(|e| SectorsError::Toml(e.to_string()))?;
        if file.sectors.is_empty() {
            return Err(SectorsError::Empty);
        }
        let mut by_postcode = BTreeMap::new();
        let mut seen = BTreeMap::new();
        for (i, sector) in file.sectors.iter().enumerate() {
            if !is_id(&sector.id) {
                return Err(SectorsError::Id(sector.id.clone()));
            }
            if seen.insert(sector.id.clone(), i).is_some() {
                return Err(SectorsError::Twice(sector.id.clone()));
            }
            if sector.name.trim().is_empty() {
                return Err(SectorsError::Name(sector.id.clone()));
            }
            if !is_id(&sector.structure) {
                return Err(SectorsError::Structure {
                    sector: sector.id.clone(),
                    structure: sector.structure.clone(),
                });
            }
            for postcode in &sector.postcodes {
                if postcode.len() != 5 || !postcode.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SectorsError::Postcode {
                        sector: sector.id.clone(),
                        postcode: postcode.clone(),
                    });
                }
                if let Some(first) = by_postcode.insert(postcode.clone(), i) {
                    return Err(SectorsError::Shared {
                        postcode: postcode.clone(),
                        first: file.sectors[first].id.clone(),
                        second: sector.id.clone(),
                    });
                }
            }
        }
        Ok(Self {
            list: file.sectors,
            by_postcode,
        })
    }

    pub fn example() -> Self {
        Self::parse(EXAMPLE_SECTORS).expect("the example sector file is valid")
    }

    pub fn all(&self) -> &[Sector] {
        &self.list
    }

    pub fn get(&self, id: &str) -> Option<&Sector> {
        self.list.iter().find(|s| s.id == id)
    }

    pub fn for_postcode(&self, postcode: &str) -> Option<&Sector> {
        self.by_postcode.get(postcode).map(|i| &self.list[*i])
    }

    /// The sectors a structure keeps.
    pub fn of_structure<'a>(&'a self, structure: &'a str) -> impl Iterator<Item = &'a Sector> {
        self.list.iter().filter(move |s| s.structure == structure)
    }

    /// Every sector's id, for messages saying what is accepted.
    pub fn ids(&self) -> String {
        self.list
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_maps_each_postcode_to_one_sector() {
        let sectors = Sectors::example();
        assert_eq!(
            sectors.for_postcode("80080").unwrap().structure,
            "ccas-nord"
        );
        assert_eq!(sectors.for_postcode("80480").unwrap().id, "ouest");
        assert!(sectors.for_postcode("75001").is_none());
        assert_eq!(sectors.of_structure("ccas-sud").count(), 1);
    }

    #[test]
    fn a_wrong_file_says_what_is_wrong() {
        let shared = r#"
[[sector]]
id = "a1"
name = "A"
structure = "ccas-a"
postcodes = ["80000"]
[[sector]]
id = "b1"
name = "B"
structure = "ccas-b"
postcodes = ["80000"]
"#;
        assert_eq!(
            Sectors::parse(shared).unwrap_err().to_string(),
            "postcode `80000` is in sectors `a1` and `b1`: a postcode belongs to one sector"
        );
        assert_eq!(Sectors::parse("").unwrap_err(), SectorsError::Empty);
        let bad_id =
            "[[sector]]\nid = \"Nord\"\nname = \"N\"\nstructure = \"s1\"\npostcodes = []\n";
        assert!(matches!(Sectors::parse(bad_id), Err(SectorsError::Id(_))));
        let unknown =
            "[[sector]]\nid = \"n1\"\nname = \"N\"\nstructure = \"s1\"\npostcodes = []\nzone = 1\n";
        assert!(matches!(
            Sectors::parse(unknown),
            Err(SectorsError::Toml(_))
        ));
    }
}
