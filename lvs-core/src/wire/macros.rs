//! The macros shared by the wire modules: open enums for wire numbers, and the common part of
//! every view.

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
            #[inline(always)]
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

/// Declares a view over a packet buffer in smoltcp's shape: the struct wrapping any `T`, and
/// `new_unchecked`, `new_checked` and `into_inner`. The module writes `check_len`, which states
/// the exact contract (what `new_checked` guarantees so that no accessor panics), and the
/// accessors.
macro_rules! view {
    (
        $(#[$attr:meta])*
        pub struct $name:ident;
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<T> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps `buffer` without checks; accessors may panic on a buffer that
            /// [`check_len`](Self::check_len) refuses.
            pub const fn new_unchecked(buffer: T) -> Self {
                Self { buffer }
            }

            /// Wraps `buffer` after [`check_len`](Self::check_len) accepts it; afterwards no
            /// accessor panics (module contract).
            pub fn new_checked(buffer: T) -> $crate::wire::Result<Self> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            /// The wrapped buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}
