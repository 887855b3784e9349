// SPDX-License-Identifier: GPL-2.0

//! Read-only views of netlink attributes the nfnetlink core has already
//! parsed and validated against the policy in [`crate::netlink`].

use core::marker::PhantomData;

use crate::ffi as bindings;

/// Size of `struct nlattr` (NLA_HDRLEN: the header is already 4-aligned).
const NLA_HDRLEN: usize = core::mem::size_of::<bindings::nlattr>();

/// One attribute.
///
/// # Invariants
///
/// `nla` points to a valid `struct nlattr` whose `nla_len` bytes
/// (header included) are readable for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct Attr<'a> {
    nla: *const bindings::nlattr,
    _p: PhantomData<&'a bindings::nlattr>,
}

impl<'a> Attr<'a> {
    /// # Safety
    ///
    /// `nla` must be a valid attribute, readable (header and payload) for `'a`.
    pub(crate) unsafe fn from_raw(nla: *const bindings::nlattr) -> Self {
        // INVARIANT: guaranteed by the caller.
        Attr { nla, _p: PhantomData }
    }

    /// The payload (`nla_data`, `nla_len` bytes).
    pub(crate) fn payload(&self) -> &'a [u8] {
        // SAFETY: by the type invariant the header is readable.
        let len = unsafe { (*self.nla).nla_len } as usize;
        let len = len.saturating_sub(NLA_HDRLEN);
        // SAFETY: by the type invariant `nla_len` bytes from `nla` are
        // readable for `'a`; the payload follows the header.
        unsafe { core::slice::from_raw_parts(self.nla.cast::<u8>().add(NLA_HDRLEN), len) }
    }

    /// `nla_get_u8`; the policy (NLA_U8) guarantees at least one byte.
    pub(crate) fn get_u8(&self) -> u8 {
        self.payload().first().copied().unwrap_or(0)
    }

    /// `ntohs(nla_get_be16())`; the policy (NLA_U16) guarantees two bytes.
    pub(crate) fn get_be16(&self) -> u16 {
        match self.payload() {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        }
    }

    /// A NLA_NUL_STRING payload up to (without) its NUL.
    pub(crate) fn nul_str(&self) -> &'a [u8] {
        let p = self.payload();
        let n = p.iter().position(|&c| c == 0).unwrap_or(p.len());
        &p[..n]
    }
}

/// The `cda[]` array the nfnetlink core passes to a callback.
///
/// # Invariants
///
/// `cda` points to `max + 1` entries, each NULL or a valid
/// attribute readable for `'a`.
pub(crate) struct NlAttrs<'a> {
    cda: *const *const bindings::nlattr,
    max: usize,
    _p: PhantomData<&'a bindings::nlattr>,
}

impl<'a> NlAttrs<'a> {
    /// # Safety
    ///
    /// `cda` must point to `max + 1` attribute pointers (NULL or valid), all
    /// valid for `'a`.
    pub(crate) unsafe fn from_raw(cda: *const *const bindings::nlattr, max: usize) -> Self {
        // INVARIANT: guaranteed by the caller.
        NlAttrs { cda, max, _p: PhantomData }
    }

    /// Attribute `ty`, if present.
    pub(crate) fn get(&self, ty: u32) -> Option<Attr<'a>> {
        let ty = ty as usize;
        if ty > self.max {
            return None;
        }
        // SAFETY: `ty <= max`, within the array (type invariant).
        let p = unsafe { *self.cda.add(ty) };
        if p.is_null() {
            None
        } else {
            // SAFETY: non-NULL entries are valid attributes for `'a`.
            Some(unsafe { Attr::from_raw(p) })
        }
    }
}
