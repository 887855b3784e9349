// SPDX-License-Identifier: GPL-2.0

//! Error codes the 6.12 `kernel` crate does not name.
//!
//! Import them by name (`use crate::errno::EMSGSIZE`), never with a glob:
//! 7.x's prelude exports an `EMSGSIZE` constant of its own, and two glob
//! imports of one name are ambiguous, while an explicit import shadows a
//! glob.  The helpers build the same `Error` on both kernels.
//!
//! Functions, not constants: `kernel::error::Error` has no `const`
//! constructor outside the `kernel` crate (`Error::from_errno` is a plain
//! `fn` in 6.12 and 7.x, and the field is private), so an `Error` constant
//! can only be declared inside that crate.  The names stay the errno names
//! the C code uses, so the call sites read like upstream's `-EOPNOTSUPP`.

use kernel::error::Error;

use crate::ffi as bindings;

#[allow(non_snake_case)]
pub(crate) fn EOPNOTSUPP() -> Error {
    Error::from_errno(-(bindings::EOPNOTSUPP as i32))
}

#[allow(non_snake_case)]
pub(crate) fn EMSGSIZE() -> Error {
    Error::from_errno(-(bindings::EMSGSIZE as i32))
}

#[allow(non_snake_case)]
pub(crate) fn EPROTONOSUPPORT() -> Error {
    Error::from_errno(-(bindings::EPROTONOSUPPORT as i32))
}
