//! In-place packet rewriters for each forwarding method (see issue 2).
