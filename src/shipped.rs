//! The pathways that ship with Doorloop, embedded so `demo` and `bench` work anywhere.

/// In publishing order: a pathway another one links to comes first.
pub const PATHWAYS: [(&str, &str); 4] = [
    (
        "simpel-switchen",
        include_str!("../workflows/simpel-switchen.yaml"),
    ),
    (
        "voorziening-verloopt",
        include_str!("../workflows/voorziening-verloopt.yaml"),
    ),
    (
        "van-zorg-naar-werk",
        include_str!("../workflows/van-zorg-naar-werk.yaml"),
    ),
    (
        "jongeren-zorg-school-werk",
        include_str!("../workflows/jongeren-zorg-school-werk.yaml"),
    ),
];
