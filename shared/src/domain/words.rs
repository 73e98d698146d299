//! Enums that travel as words (in webhooks, stored records, the CRM's fields): each
//! variant's word, and `Display` as that word.

/// `as_str` (each variant's word) and `Display` (that word) for an enum of words.
macro_rules! enum_words {
    ($ty:ty, $($variant:path => $word:literal),+ $(,)?) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($variant => $word,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use enum_words;
