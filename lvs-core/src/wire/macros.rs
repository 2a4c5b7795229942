//! The open-enum macro shared by every wire number.

/// Declares an open enum over a wire integer: named variants plus `Unknown(raw)`, with
/// `From` both ways. Equality, ordering and hashing go through the integer, so
/// `Unknown(6) == Tcp`: a value built by hand can never disagree with the same value parsed.
macro_rules! enum_with_unknown {
    (
        $(#[$enum_attr:meta])*
        pub enum $name:ident($ty:ty) {
            $(
                $(#[$variant_attr:meta])*
                $variant:ident = $value:expr
            ),+ $(,)?
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Debug, Clone, Copy)]
        pub enum $name {
            $(
                $(#[$variant_attr])*
                $variant
            ),+,
            /// A value this module has no name for; not an error.
            Unknown($ty),
        }

        impl ::core::convert::From<$ty> for $name {
            #[inline]
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => Self::$variant ),+,
                    other => Self::Unknown(other),
                }
            }
        }

        impl $name {
            /// The wire value; `const`, unlike the `From` conversion, so the raw constants
            /// that per-packet code matches bytes against are derived from the one definition
            /// here.
            #[inline]
            pub(crate) const fn raw(self) -> $ty {
                match self {
                    $( Self::$variant => $value ),+,
                    Self::Unknown(other) => other,
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            #[inline]
            fn from(value: $name) -> Self {
                value.raw()
            }
        }

        impl ::core::cmp::PartialEq for $name {
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                <$ty>::from(*self) == <$ty>::from(*other)
            }
        }

        impl ::core::cmp::Eq for $name {}

        impl ::core::hash::Hash for $name {
            fn hash<H: ::core::hash::Hasher>(&self, state: &mut H) {
                <$ty>::from(*self).hash(state);
            }
        }

        impl ::core::cmp::PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<::core::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl ::core::cmp::Ord for $name {
            fn cmp(&self, other: &Self) -> ::core::cmp::Ordering {
                <$ty>::from(*self).cmp(&<$ty>::from(*other))
            }
        }
    };
}
