//! What can be wrong with a value of a places file: said after the field's name and the value,
//! with what is accepted ("is not a postcode: expected 5 digits, e.g. 80000").

/// A value the national schema does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("is required")]
    Required,
    #[error("is required: the date the data was last updated, YYYY-MM-DD")]
    DateRequired,
    #[error("is required: accepted are {0}")]
    RequiredFrom(String),
    #[error("expected Oui or Non")]
    NotYesNo,
    #[error("expected a whole number of computers")]
    NotACount,
    #[error("is not a known value: accepted are {0}")]
    NotInVocabulary(String),
    #[error("is not a number: expected a decimal degree such as 49.8942")]
    NotADegree,
    #[error(
        "is not a structure type of the national schema: expected codes such as CCAS, ASSO, BIB, RFS, TIERS_LIEUX (left out)"
    )]
    NotAStructureType,
    #[error("is not an e-mail address: expected name@domain.fr")]
    NotAnEmail,
    #[error("is longer than {0} characters")]
    TooLong(usize),
    #[error("is not a valid SIRET (its check digit is wrong)")]
    SiretCheckDigit,
    #[error("is not a valid SIRET (its check digit is wrong): kept as written, check it")]
    SiretCheckDigitKept,
    #[error("is not in the department of INSEE code {0}: kept, check which one is right")]
    PostcodeOutsideDepartment(String),
    #[error("had latitude and longitude swapped: put back")]
    SwappedBack,
    #[error("is neither a SIRET (14 digits) nor an RNA number (W and 9 characters)")]
    NotPivot,
    #[error("is not a postcode: expected 5 digits, e.g. 80000")]
    NotPostcode,
    #[error("is not an INSEE commune code: expected 5 characters, e.g. 80021 or 2A004")]
    NotInsee,
    #[error(
        "is not a phone number: expected a French number such as 03 22 97 10 10 or +33 3 22 97 10 10"
    )]
    NotPhone,
    #[error(
        "is not a web address the national schema accepts: expected https://host.fr/path, without a port"
    )]
    NotUrl,
    #[error("had characters the national schema does not accept (quotes, #, _…): removed")]
    CharactersRemoved,
    #[error("is not a date: expected YYYY-MM-DD")]
    NotDate,
    #[error("is in the future: replaced by today's date")]
    DateInFuture,
    #[error("is out of range: latitude goes from -90 to 90, longitude from -180 to 180")]
    OutOfRange,
    #[error("is not in France, but would be with latitude and longitude swapped")]
    Swapped,
    #[error(
        "is not in France (mainland, Corsica or overseas): expected WGS84 decimal degrees, e.g. 49.8942, 2.2957 for Amiens"
    )]
    NotInFrance,
    #[error(
        "is not in OpenStreetMap opening_hours syntax ({0}): expected e.g. \"Mo-Fr 09:00-12:00,14:00-17:30; Sa 09:00-12:00; PH off\""
    )]
    NotOpeningHours(String),
}

/// A places file that cannot be read at all (rows that can are each kept or refused apart).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("GeoJSON and data·inclusion are export formats: import CSV or JSON in the schema")]
    ExportOnly,
    #[error("the CSV header does not read: {0}")]
    CsvHeader(String),
    #[error(
        "the CSV has no `{missing}` column: expected the schema's columns ({expected}), found {found}"
    )]
    MissingColumn {
        missing: &'static str,
        expected: String,
        found: String,
    },
    #[error("the JSON does not parse: {0}")]
    Json(String),
    #[error("the JSON is not an array of places: expected [{{\"id\": …, \"nom\": …}}, …]")]
    NotAnArray,
    #[error("the place does not read: {0}")]
    Place(String),
    #[error("the file cannot be written: {0}")]
    Write(String),
}

impl From<FileError> for passerelle_kit::ServiceError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Write(_) => Self::Internal(e.to_string()),
            other => Self::InvalidArgument(other.to_string()),
        }
    }
}

/// Why a place may not be changed by this caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotYours {
    #[error("place `{id}` is kept by {owner}: ask them, or an admin, to change it")]
    KeptBy { id: String, owner: String },
    #[error("place `{id}` comes from an import: a manager or an admin changes it")]
    Imported { id: String },
}

impl From<NotYours> for passerelle_kit::ServiceError {
    fn from(e: NotYours) -> Self {
        Self::PermissionDenied(e.to_string())
    }
}
