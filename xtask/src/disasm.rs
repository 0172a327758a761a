//! Reading `llvm-objdump -d -r -C --no-show-raw-insn` output and counting
//! the instructions of a function the way the budgets are stated: every
//! instruction except the returns and the frame prologue/epilogue (stack
//! adjustment, saving and restoring the frame pointer, the link register and
//! callee-saved registers at entry and before a return).

use std::collections::BTreeMap;

/// Instruction-set families, as far as counting is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    X86_64,
    Aarch64,
    /// RV32 and RV64 disassemble alike.
    Riscv,
    Loongarch64,
    /// ARMv7-A, A32 encoding.
    Armv7,
}

/// One disassembled instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Lower-case mnemonic, e.g. `ldr`, `movq`, `ldx.d`.
    pub mnemonic: String,
    /// Operands with comments and `<symbol+offset>` annotations removed.
    pub operands: String,
    /// The symbol a relocation at this instruction refers to, if any.
    pub reloc: Option<String>,
}

impl Insn {
    /// `mnemonic operands`, as shown in the report's listings.
    pub fn text(&self) -> String {
        if self.operands.is_empty() {
            self.mnemonic.clone()
        } else {
            format!("{} {}", self.mnemonic, self.operands)
        }
    }
}

/// What an instruction is, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Part of the operation: counted.
    Counted,
    /// Prologue or epilogue: not counted.
    Frame,
    /// A return (possibly fused with the epilogue, as ARM's `pop {.., pc}`).
    Return,
}

/// The count of one function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    /// One role per instruction, in order.
    pub roles: Vec<Role>,
    /// Instructions counted.
    pub counted: usize,
    /// Calls, including tail calls (a jump to another symbol).
    pub calls: usize,
    /// Branches other than calls and returns (a loop needs one).
    pub branches: usize,
}

/// Splits objdump's output into functions: name to instructions. Local
/// labels (`.L*`, `$x`...) continue the function they sit in. Fails if a
/// wanted function appears twice (the count would be ambiguous).
pub fn parse(text: &str, wanted: &[&str]) -> Result<BTreeMap<String, Vec<Insn>>, String> {
    let mut functions: BTreeMap<String, Vec<Insn>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("Disassembly of section") || line.contains("\tfile format ") {
            current = None;
            continue;
        }
        if let Some(name) = symbol_line(line) {
            if is_local_label(name) {
                continue;
            }
            if wanted.contains(&name) {
                if functions.contains_key(name) {
                    return Err(format!(
                        "function `{name}` appears twice in the disassembly"
                    ));
                }
                functions.insert(name.to_owned(), Vec::new());
                current = Some(name.to_owned());
            } else {
                current = None;
            }
            continue;
        }
        let Some(name) = &current else { continue };
        let insns = functions
            .get_mut(name)
            .expect("inserted when it became current");
        if let Some(symbol) = reloc_line(line) {
            if let Some(last) = insns.last_mut() {
                last.reloc.get_or_insert_with(|| normalize_symbol(symbol));
            }
        } else if let Some(insn) = insn_line(line) {
            insns.push(insn);
        }
    }
    Ok(functions)
}

/// `0000000000000000 <name>:` gives `name`.
fn symbol_line(line: &str) -> Option<&str> {
    let (addr, rest) = line.split_once(' ')?;
    if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    rest.strip_prefix('<')?.strip_suffix(">:")
}

fn is_local_label(name: &str) -> bool {
    name.starts_with(".L") || name.starts_with('$')
}

/// `\t\t0000000c:  R_AARCH64_CALL26\tsymbol` gives `symbol`.
fn reloc_line(line: &str) -> Option<&str> {
    let (addr, rest) = line.trim_start().split_once(':')?;
    if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest.trim_start();
    if !rest.starts_with("R_") {
        return None;
    }
    let (_, symbol) = rest.split_once(char::is_whitespace)?;
    Some(symbol.trim())
}

/// A relocation target as the report shows it: demangled by rustc-demangle
/// without the hash (it depends on the checkout's path) or LLVM's `.llvm.`
/// suffix, so the report is the same on every machine; an addend stays.
pub fn normalize_symbol(symbol: &str) -> String {
    let symbol = symbol.trim();
    // Mangled names hold no `+` or `-`: the first one starts the addend.
    let (name, addend) = match symbol.find(['+', '-']) {
        Some(at) if at > 0 => symbol.split_at(at),
        _ => (symbol, ""),
    };
    // A section-relative target names the function's section, such as
    // `.text._ZN…E`: demangle the name after the section's prefix.
    let (section, name) = match name.find("_ZN") {
        Some(at) if name.starts_with('.') => name.split_at(at),
        _ => ("", name),
    };
    format!("{section}{:#}{addend}", rustc_demangle::demangle(name))
}

/// `      1c:      \tldr\tw10, [x9, x8]` gives the instruction.
fn insn_line(line: &str) -> Option<Insn> {
    if !line.starts_with(' ') {
        return None;
    }
    let (addr, rest) = line.trim_start().split_once(':')?;
    if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest.trim();
    if rest.is_empty() || rest.starts_with("R_") {
        return None;
    }
    let (mnemonic, operands) = match rest.split_once(char::is_whitespace) {
        Some((m, o)) => (m, o),
        None => (rest, ""),
    };
    Some(Insn {
        mnemonic: mnemonic.to_ascii_lowercase(),
        operands: clean_operands(operands),
        reloc: None,
    })
}

/// Drops objdump's comments (`# ...` after AT&T operands, `@ ...` on ARM,
/// `// ...` on AArch64) and `<symbol+0x..>` annotations; squeezes spaces.
fn clean_operands(operands: &str) -> String {
    let mut s = operands;
    for marker in ["\t#", " # ", "\t@", " @ ", "//"] {
        if let Some(i) = s.find(marker) {
            s = &s[..i];
        }
    }
    let mut out = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Classifies every instruction and counts.
pub fn count(isa: Isa, insns: &[Insn]) -> Count {
    let mut roles = vec![Role::Counted; insns.len()];
    for (i, insn) in insns.iter().enumerate() {
        if is_return(isa, insn) {
            roles[i] = Role::Return;
        }
    }
    // The prologue: frame instructions from the entry on.
    for (i, insn) in insns.iter().enumerate() {
        if roles[i] != Role::Counted || !is_frame(isa, insn) {
            break;
        }
        roles[i] = Role::Frame;
    }
    // Each epilogue: the frame instructions between the last call and a
    // return, or a tail call, which leaves the function as a return does.
    // The compiler may schedule a restore before the function's last store,
    // so the epilogue is every frame instruction there, not only a run.
    for r in 0..insns.len() {
        let end = if roles[r] == Role::Return {
            r
        } else if let Some(start) = tail_call_start(isa, insns, r) {
            start
        } else {
            continue;
        };
        for i in (0..end).rev() {
            if is_call(isa, &insns[i]) || roles[i] == Role::Return {
                break;
            }
            if roles[i] == Role::Counted && is_frame(isa, &insns[i]) {
                roles[i] = Role::Frame;
            }
        }
    }
    let counted = roles.iter().filter(|r| **r == Role::Counted).count();
    let mut calls = 0;
    let mut branches = 0;
    for (insn, role) in insns.iter().zip(&roles) {
        if *role != Role::Counted {
            continue;
        }
        if is_call(isa, insn) {
            calls += 1;
        } else if is_branch(isa, insn) {
            branches += 1;
        }
    }
    // A tail call is a call, not a branch within the function.
    for (t, role) in roles.iter().enumerate() {
        if *role == Role::Counted && tail_call_start(isa, insns, t).is_some() {
            calls += 1;
            branches -= 1;
        }
    }
    Count {
        roles,
        counted,
        calls,
        branches,
    }
}

/// What counting needs to know of an instruction set, as data; only the
/// shape of a prologue/epilogue instruction ([`IsaRules::frame`]) is code.
struct IsaRules {
    /// Returns: a mnemonic with these exact operands, or with any (`None`).
    returns: &'static [(&'static str, Option<&'static str>)],
    /// Whether a `pop`/`ldm*` whose register list holds `pc` returns (ARM).
    pop_pc_returns: bool,
    /// Every register may be saved by a prologue (x86_64's push/pop of
    /// anything saves or aligns the stack).
    saves_any: bool,
    /// Registers a prologue saves, by name ...
    saved: &'static [&'static str],
    /// ... and by number: a prefix and an inclusive range (`x19`..`x30`).
    saved_numbered: &'static [(&'static str, u32, u32)],
    /// Calls: these mnemonics, or mnemonics starting with one of
    /// `call_prefixes` ...
    calls: &'static [&'static str],
    call_prefixes: &'static [&'static str],
    /// ... or these jumps when they link: their first operand is the link
    /// register, or (`one_operand_links`) they have one operand only.
    linking_jumps: &'static [&'static str],
    link_register: &'static str,
    one_operand_links: bool,
    /// Branches (calls excluded by the caller): these mnemonics, those
    /// starting with a prefix, or a base of `conditional` with no suffix or
    /// an ARM condition suffix.
    branches: &'static [&'static str],
    branch_prefixes: &'static [&'static str],
    conditional: &'static [&'static str],
    /// A register jump whose target an `auipc`/`pcaddu18i` with the
    /// relocation built is a (far) tail call.
    far_tail_calls: bool,
    /// Whether an instruction has a prologue's or an epilogue's shape.
    frame: fn(&Insn) -> bool,
}

/// ARM condition suffixes (with `al`, always).
const ARM_CONDITIONS: [&str; 17] = [
    "eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le",
    "al",
];

/// The conditional branches RISC-V and LoongArch share.
macro_rules! compare_branches {
    ($($extra:literal),*) => {
        &[
            $($extra,)* "beq", "bne", "blt", "bge", "bltu", "bgeu", "beqz", "bnez", "bgt", "ble",
            "bgtu", "bleu",
        ]
    };
}

const X86_64: IsaRules = IsaRules {
    returns: &[("ret", None), ("retq", None)],
    pop_pc_returns: false,
    saves_any: true,
    saved: &[],
    saved_numbered: &[],
    calls: &[],
    call_prefixes: &["call"],
    linking_jumps: &[],
    link_register: "",
    one_operand_links: false,
    branches: &[],
    branch_prefixes: &["j", "loop"],
    conditional: &[],
    far_tail_calls: false,
    frame: x86_64_frame,
};

const AARCH64: IsaRules = IsaRules {
    returns: &[("ret", None)],
    pop_pc_returns: false,
    saves_any: false,
    saved: &["fp", "lr", "x29", "x30"],
    saved_numbered: &[("x", 19, 30), ("d", 8, 15)],
    calls: &["bl", "blr"],
    call_prefixes: &[],
    linking_jumps: &[],
    link_register: "",
    one_operand_links: false,
    branches: &["b", "br", "cbz", "cbnz", "tbz", "tbnz"],
    branch_prefixes: &["b."],
    conditional: &[],
    far_tail_calls: false,
    frame: aarch64_frame,
};

const RISCV: IsaRules = IsaRules {
    returns: &[
        ("ret", None),
        ("jr", Some("ra")),
        ("jalr", Some("zero, 0(ra)")),
    ],
    pop_pc_returns: false,
    saves_any: false,
    saved: &["ra", "fp"],
    saved_numbered: &[("s", 0, 11)],
    calls: &["call"],
    call_prefixes: &[],
    // `jal off` and `jalr rs` link `ra`; `jal zero, ..` is a jump.
    linking_jumps: &["jal", "jalr"],
    link_register: "ra",
    one_operand_links: true,
    branches: compare_branches!("j", "jr", "jal", "jalr", "tail", "blez", "bgez", "bltz", "bgtz"),
    branch_prefixes: &[],
    conditional: &[],
    far_tail_calls: true,
    frame: riscv_frame,
};

const LOONGARCH64: IsaRules = IsaRules {
    returns: &[
        ("ret", None),
        ("jr", Some("$ra")),
        ("jirl", Some("$zero, $ra, 0")),
    ],
    pop_pc_returns: false,
    saves_any: false,
    saved: &["$ra", "$fp", "$r1", "$r22"],
    saved_numbered: &[("$s", 0, 8)],
    calls: &["bl"],
    call_prefixes: &[],
    linking_jumps: &["jirl"],
    link_register: "$ra",
    one_operand_links: false,
    branches: compare_branches!("b", "jr", "jirl", "bceqz", "bcnez"),
    branch_prefixes: &[],
    conditional: &[],
    far_tail_calls: true,
    frame: loongarch64_frame,
};

const ARMV7: IsaRules = IsaRules {
    returns: &[("bx", Some("lr")), ("mov", Some("pc, lr"))],
    pop_pc_returns: true,
    saves_any: false,
    saved: &["lr", "pc", "fp", "r11", "r10", "sb", "sl"],
    saved_numbered: &[("r", 4, 11), ("d", 8, 15)],
    calls: &["bl", "blx"],
    call_prefixes: &[],
    linking_jumps: &[],
    link_register: "",
    one_operand_links: false,
    branches: &["cbz", "cbnz"],
    branch_prefixes: &[],
    conditional: &["b", "bx"],
    far_tail_calls: false,
    frame: armv7_frame,
};

impl Isa {
    fn rules(self) -> &'static IsaRules {
        match self {
            Isa::X86_64 => &X86_64,
            Isa::Aarch64 => &AARCH64,
            Isa::Riscv => &RISCV,
            Isa::Loongarch64 => &LOONGARCH64,
            Isa::Armv7 => &ARMV7,
        }
    }
}

/// Where the tail call that jumps at `t` starts: the jump itself when it
/// carries the relocation (`jmp sym`, `b sym`), or the `auipc`/`pcaddu18i`
/// before a register jump that does (RISC-V's and LoongArch's far form).
fn tail_call_start(isa: Isa, insns: &[Insn], t: usize) -> Option<usize> {
    let insn = &insns[t];
    if !is_branch(isa, insn) || is_call(isa, insn) {
        return None;
    }
    if insn.reloc.is_some() {
        return Some(t);
    }
    let prev = insns.get(t.checked_sub(1)?)?;
    let far = matches!(prev.mnemonic.as_str(), "auipc" | "pcaddu18i");
    (isa.rules().far_tail_calls && far && prev.reloc.is_some()).then_some(t - 1)
}

fn operand_list(insn: &Insn) -> Vec<&str> {
    insn.operands.split(", ").map(str::trim).collect()
}

fn is_return(isa: Isa, insn: &Insn) -> bool {
    let rules = isa.rules();
    let m = insn.mnemonic.as_str();
    let ops = insn.operands.as_str();
    rules
        .returns
        .iter()
        .any(|(mnemonic, operands)| m == *mnemonic && operands.is_none_or(|o| o == ops))
        || (rules.pop_pc_returns
            && (m == "pop" || m.starts_with("ldm"))
            && register_list(ops).contains(&"pc"))
}

/// The registers between `{` and `}` of an ARM register list.
fn register_list(ops: &str) -> Vec<&str> {
    let Some(start) = ops.find('{') else {
        return Vec::new();
    };
    let Some(end) = ops.find('}') else {
        return Vec::new();
    };
    if end < start {
        return Vec::new();
    }
    ops[start + 1..end].split(',').map(str::trim).collect()
}

/// Registers a prologue may save: callee-saved ones, the frame pointer and
/// the link register.
fn saved_register(isa: Isa, reg: &str) -> bool {
    let rules = isa.rules();
    rules.saves_any
        || rules.saved.contains(&reg)
        || rules.saved_numbered.iter().any(|(prefix, low, high)| {
            reg.strip_prefix(prefix)
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| (*low..=*high).contains(&n))
        })
}

/// Whether `insn` is the kind of instruction a prologue or epilogue has.
/// Only applied at the entry and just before a return: the same
/// instruction in the middle of a function is counted.
fn is_frame(isa: Isa, insn: &Insn) -> bool {
    (isa.rules().frame)(insn)
}

fn x86_64_frame(insn: &Insn) -> bool {
    let m = insn.mnemonic.as_str();
    let ops = operand_list(insn);
    m.starts_with("push")
        || m.starts_with("pop")
        || m == "leave"
        || m == "endbr64"
        || ((m.starts_with("sub") || m.starts_with("add"))
            && ops.len() == 2
            && ops[0].starts_with('$')
            && ops[1] == "%rsp")
        || (m.starts_with("mov") && (ops == ["%rsp", "%rbp"] || ops == ["%rbp", "%rsp"]))
}

fn aarch64_frame(insn: &Insn) -> bool {
    let m = insn.mnemonic.as_str();
    let ops = operand_list(insn);
    let sp_adjust = (m == "sub" || m == "add")
        && ops.len() == 3
        && ops[0] == "sp"
        && ops[1] == "sp"
        && ops[2].starts_with('#');
    let frame_pointer = (m == "mov" && (ops == ["x29", "sp"] || ops == ["sp", "x29"]))
        || (m == "add" && ops.len() == 3 && ops[0] == "x29" && ops[1] == "sp");
    let save = matches!(m, "stp" | "ldp" | "str" | "ldr")
        && insn.operands.contains("[sp")
        && ops
            .iter()
            .take_while(|o| !o.starts_with('['))
            .all(|r| saved_register(Isa::Aarch64, r));
    sp_adjust || frame_pointer || save || m == "paciasp" || m == "autiasp"
}

/// RISC-V and LoongArch: `addi sp, sp, -n`, the frame pointer from or to
/// `sp`, and a store or load of a saved register at `sp`.
fn addi_frame(isa: Isa, insn: &Insn, addi: &str, sp: &str, fp: &str, saves: &[&str]) -> bool {
    let m = insn.mnemonic.as_str();
    let ops = operand_list(insn);
    let sp_adjust = m == addi && ops.len() == 3 && ops[0] == sp && ops[1] == sp;
    let frame_pointer = m == addi
        && ops.len() == 3
        && ((ops[0] == fp && ops[1] == sp) || (ops[0] == sp && ops[1] == fp));
    let at_sp = if isa == Isa::Riscv {
        ops.len() == 2 && ops[1].ends_with("(sp)")
    } else {
        ops.len() == 3 && ops[1] == sp
    };
    let save = saves.contains(&m) && at_sp && saved_register(isa, ops[0]);
    sp_adjust || frame_pointer || save
}

fn riscv_frame(insn: &Insn) -> bool {
    addi_frame(
        Isa::Riscv,
        insn,
        "addi",
        "sp",
        "s0",
        &["sd", "sw", "ld", "lw"],
    )
}

fn loongarch64_frame(insn: &Insn) -> bool {
    addi_frame(
        Isa::Loongarch64,
        insn,
        "addi.d",
        "$sp",
        "$fp",
        &["st.d", "ld.d", "st.w", "ld.w"],
    )
}

fn armv7_frame(insn: &Insn) -> bool {
    let m = insn.mnemonic.as_str();
    let ops = operand_list(insn);
    let list_ok = |ops: &str| {
        let regs = register_list(ops);
        !regs.is_empty() && regs.iter().all(|r| saved_register(Isa::Armv7, r))
    };
    let push_pop = matches!(m, "push" | "pop" | "vpush" | "vpop") && list_ok(&insn.operands);
    let stm_ldm = (m == "stmdb" || m == "ldm" || m == "ldmia")
        && insn.operands.starts_with("sp!")
        && list_ok(&insn.operands);
    let sp_adjust = (m == "sub" || m == "add")
        && ops.len() == 3
        && ops[0] == "sp"
        && (ops[1] == "sp" || ops[1] == "r11")
        && ops[2].starts_with('#');
    let frame_pointer = (m == "mov" && (ops == ["r11", "sp"] || ops == ["sp", "r11"]))
        || (m == "add" && ops.len() == 3 && ops[0] == "r11" && ops[1] == "sp");
    push_pop || stm_ldm || sp_adjust || frame_pointer
}

fn is_call(isa: Isa, insn: &Insn) -> bool {
    let rules = isa.rules();
    let m = insn.mnemonic.as_str();
    if rules.calls.contains(&m) || rules.call_prefixes.iter().any(|p| m.starts_with(p)) {
        return true;
    }
    if !rules.linking_jumps.contains(&m) {
        return false;
    }
    let ops = operand_list(insn);
    (rules.one_operand_links && ops.len() == 1) || ops[0] == rules.link_register
}

/// Any transfer of control other than a return.
fn is_branch(isa: Isa, insn: &Insn) -> bool {
    let rules = isa.rules();
    let m = insn.mnemonic.as_str();
    rules.branches.contains(&m)
        || rules.branch_prefixes.iter().any(|p| m.starts_with(p))
        || rules.conditional.iter().any(|base| {
            m.strip_prefix(base)
                .is_some_and(|c| c.is_empty() || ARM_CONDITIONS.contains(&c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insns(isa: Isa, body: &str) -> Vec<Insn> {
        let text = format!("0000000000000000 <f>:\n{body}");
        let _ = isa;
        parse(&text, &["f"]).unwrap().remove("f").unwrap()
    }

    #[test]
    fn parses_functions_relocations_and_local_labels() {
        let text = "\
libx.a(x.o):\tfile format elf64-littleriscv

Disassembly of section .text.f:

0000000000000000 <f>:
       0:      \tauipc\ta1, 0x0
\t\t0000000000000000:  R_RISCV_PCREL_HI20\tpercpu::area::AREA_BASE

0000000000000004 <.Lpcrel_hi9>:
       4:      \tld\ta1, 0x0(a1)
       8:      \tret

Disassembly of section .text.g:

0000000000000000 <g>:
       0:      \tret
";
        let functions = parse(text, &["f"]).unwrap();
        assert_eq!(functions.len(), 1, "only the wanted function");
        let f = &functions["f"];
        assert_eq!(f.len(), 3, "the local label continues `f`: {f:?}");
        assert_eq!(f[0].reloc.as_deref(), Some("percpu::area::AREA_BASE"));
        assert_eq!(f[1].text(), "ld a1, 0x0(a1)");
        assert_eq!(f[1].reloc, None);
    }

    #[test]
    fn symbols_lose_hashes_and_escapes() {
        assert_eq!(
            normalize_symbol("_ZN6percpu4area9AREA_BASE17h9f9a33e7c30ba0d1E-0x4"),
            "percpu::area::AREA_BASE-0x4"
        );
        assert_eq!(
            normalize_symbol(
                "_ZN12kernel_guard3imp41_$LT$impl$u20$kernel_guard..NoPreempt$GT$3new17h40aa501c40341789E"
            ),
            "kernel_guard::imp::<impl kernel_guard::NoPreempt>::new"
        );
        assert_eq!(
            normalize_symbol("_ZN1a1f17h0123456789abcdefE.llvm.123456"),
            "a::f"
        );
        assert_eq!(normalize_symbol("read_current_usize"), "read_current_usize");
        assert_eq!(normalize_symbol(".percpu+0x8"), ".percpu+0x8");
        assert_eq!(
            normalize_symbol(".text._ZN1g3off17h7667ac2256b6f34aE-0x4"),
            ".text.g::off-0x4"
        );
    }

    #[test]
    fn duplicate_functions_are_an_error() {
        let text = "0 <f>:\n 0: ret\n\nDisassembly of section x:\n0 <f>:\n 0: ret\n";
        assert!(parse(text, &["f"]).is_err());
    }

    #[test]
    fn strips_comments_and_annotations() {
        let x = insns(
            Isa::X86_64,
            "       0:      \tmovq\t(%rip), %rax            # 0x7 <f+0x7>\n",
        );
        assert_eq!(x[0].text(), "movq (%rip), %rax");
        let a = insns(
            Isa::Armv7,
            "       c:      \tbl\t0xc <f+0xc> @ imm = #-0x8\n",
        );
        assert_eq!(a[0].text(), "bl 0xc");
    }

    #[test]
    fn x86_single_instruction_read() {
        let f = insns(
            Isa::X86_64,
            "       0:      \tmovq\t%gs:0x0, %rax\n       9:      \tretq\n",
        );
        let c = count(Isa::X86_64, &f);
        assert_eq!((c.counted, c.calls, c.branches), (1, 0, 0));
        assert_eq!(c.roles, [Role::Counted, Role::Return]);
    }

    #[test]
    fn arm_frame_record_is_not_counted_but_the_body_is() {
        let body = "
       0:      \tpush\t{r11, lr}
       4:      \tmov\tr11, sp
       8:      \tmrc\tp15, #0x0, r0, c13, c0, #0x4
       c:      \tmovw\tr1, #0x0
      10:      \tmovt\tr1, #0x0
      14:      \tldr\tr0, [r1, r0]
      18:      \tpop\t{r11, pc}
";
        let c = count(Isa::Armv7, &insns(Isa::Armv7, body));
        assert_eq!(c.counted, 4);
        assert_eq!(c.roles[0], Role::Frame);
        assert_eq!(c.roles[6], Role::Return);
    }

    #[test]
    fn aarch64_guard_calls_are_counted_and_saves_are_not() {
        let body = "
       0:      \tsub\tsp, sp, #0x20
       4:      \tstp\tx30, x19, [sp, #0x10]
       8:      \tbl\t0x8 <f+0x8>
\t\t0000000000000008:  R_AARCH64_CALL26\t<kernel_guard::NoPreempt>::new
       c:      \tmrs\tx8, TPIDR_EL1
      10:      \tmovz\tx9, #0x0, lsl #16
      14:      \tmovk\tx9, #0x0
      18:      \tldr\tx19, [x9, x8]
      1c:      \tadd\tx0, sp, #0xf
      20:      \tbl\t0x20 <f+0x20>
      24:      \tmov\tx0, x19
      28:      \tldp\tx30, x19, [sp, #0x10]
      2c:      \tadd\tsp, sp, #0x20
      30:      \tret
";
        let c = count(Isa::Aarch64, &insns(Isa::Aarch64, body));
        assert_eq!((c.counted, c.calls, c.branches), (8, 2, 0));
    }

    #[test]
    fn a_reload_before_the_epilogue_is_counted() {
        // `x0` is not callee-saved: reloading it is work, not the frame.
        let body = "
       0:      \tsub\tsp, sp, #0x10
       4:      \tldr\tx0, [sp, #0x8]
       8:      \tadd\tsp, sp, #0x10
       c:      \tret
";
        let c = count(Isa::Aarch64, &insns(Isa::Aarch64, body));
        assert_eq!(c.counted, 1);
        assert_eq!(c.roles[1], Role::Counted);
    }

    #[test]
    fn the_frame_teardown_before_a_tail_call_is_an_epilogue() {
        // RISC-V's far tail call: the relocation sits on the `auipc`.
        let listing = "\
  0:\taddi\tsp, sp, -0x10
  2:\tsd\tra, 0x8(sp)
  4:\tsd\ts0, 0x0(sp)
  6:\tmv\ts0, a0
  8:\tlui\ta0, 0x0
  c:\tsd\ts0, 0x0(a0)
 10:\tld\tra, 0x8(sp)
 12:\tld\ts0, 0x0(sp)
 14:\taddi\tsp, sp, 0x10
 16:\tauipc\tt1, 0x0
\t\t0000000000000016:  R_RISCV_CALL_PLT\tpreempt_on
 1a:\tjr\tt1
";
        let c = count(Isa::Riscv, &insns(Isa::Riscv, listing));
        // mv, lui, sd, and the two instructions of the tail call.
        assert_eq!(c.counted, 5, "{:?}", c.roles);
        assert_eq!((c.calls, c.branches), (1, 0));
    }

    #[test]
    fn a_restore_scheduled_before_the_last_store_is_still_the_epilogue() {
        // What AArch64 emits for a guarded box add: the callee-saved pair is
        // reloaded before the final store, then the guard is tail-called.
        let body = "
       0:      \tstr\tx30, [sp, #-0x20]!
       4:      \tstp\tx20, x19, [sp, #0x10]
       8:      \tmov\tw19, w1
       c:      \tmov\tx20, x0
      10:      \tbl\t0x10 <f+0x10>
\t\t0000000000000010:  R_AARCH64_CALL26\tpreempt_off
      14:      \tldr\tx8, [x20]
      18:      \tmrs\tx9, TPIDR_EL1
      1c:      \tldr\tw10, [x9, x8]
      20:      \tadd\tw10, w10, w19
      24:      \tldp\tx20, x19, [sp, #0x10]
      28:      \tstr\tw10, [x9, x8]
      2c:      \tldr\tx30, [sp], #0x20
      30:      \tb\t0x30 <f+0x30>
\t\t0000000000000030:  R_AARCH64_JUMP26\tpreempt_on
";
        let c = count(Isa::Aarch64, &insns(Isa::Aarch64, body));
        assert_eq!(c.roles[9], Role::Frame, "{:?}", c.roles);
        // 2 moves, the call, the 5 accesses and the tail call.
        assert_eq!((c.counted, c.calls), (9, 2));
    }

    #[test]
    fn a_spin_loop_is_a_branch_and_a_tail_call_is_a_call() {
        let body = "
       0:      \tldaxr\tw8, [x0]
       4:      \tcbnz\tw8, 0x0 <f>
       8:      \tb\t0x8 <f+0x8>
\t\t0000000000000008:  R_AARCH64_JUMP26\tsomewhere
";
        let c = count(Isa::Aarch64, &insns(Isa::Aarch64, body));
        assert_eq!((c.counted, c.calls, c.branches), (3, 1, 1));
    }

    #[test]
    fn riscv_and_loongarch_call_pairs() {
        let rv = "
       0:      \taddi\tsp, sp, -0x10
       2:      \tsd\tra, 0x8(sp)
       4:      \tauipc\tra, 0x0
       8:      \tjalr\tra <f+0x4>
       c:      \tld\tra, 0x8(sp)
       e:      \taddi\tsp, sp, 0x10
      10:      \tret
";
        let c = count(Isa::Riscv, &insns(Isa::Riscv, rv));
        assert_eq!((c.counted, c.calls), (2, 1));
        let la = "
       0:      \taddi.d\t$sp, $sp, -16
       4:      \tst.d\t$ra, $sp, 8
       8:      \tpcaddu18i\t$ra, 0
       c:      \tjirl\t$ra, $ra, 0 <f+0x8>
      10:      \tld.d\t$ra, $sp, 8
      14:      \taddi.d\t$sp, $sp, 16
      18:      \tret
";
        let c = count(Isa::Loongarch64, &insns(Isa::Loongarch64, la));
        assert_eq!((c.counted, c.calls), (2, 1));
    }

    #[test]
    fn x86_alignment_push_pop_is_frame() {
        let body = "
       0:      \tpushq\t%rax
       1:      \tcallq\t*(%rip)
       7:      \tpopq\t%rax
       8:      \tretq
";
        let c = count(Isa::X86_64, &insns(Isa::X86_64, body));
        assert_eq!((c.counted, c.calls), (1, 1));
    }
}
