// SPDX-License-Identifier: GPL-2.0

//! Error codes the 6.12 `kernel` crate does not name.

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
