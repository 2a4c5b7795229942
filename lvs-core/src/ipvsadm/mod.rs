//! The ipvsadm command grammar (see issue 3).
