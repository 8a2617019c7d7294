//! Turns the fuzzer's bytes into a sequence of small decisions: an
//! exhausted input yields zeros, so every prefix of an input is a valid,
//! shorter scenario and libFuzzer's minimiser keeps working.
#![allow(dead_code)]

use std::net::Ipv6Addr;

pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((b, rest)) => {
                self.rest = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0; N];
        a.iter_mut().for_each(|b| *b = self.u8());
        a
    }

    /// A length-prefixed chunk (one octet of length), cut short at the end.
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8()).min(self.rest.len());
        let (c, rest) = self.rest.split_at(n);
        self.rest = rest;
        c
    }

    /// One of a few addresses: mostly good global ones (so state builds up
    /// between events), sometimes one a binding may not use.
    pub fn addr(&mut self) -> Ipv6Addr {
        let i = self.u8();
        ADDRS[usize::from(i) % ADDRS.len()]
    }
}

const ADDRS: [Ipv6Addr; 10] = [
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100),
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x101),
    Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x100),
    Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0x50),
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
    Ipv6Addr::UNSPECIFIED,
    Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x201),
];
