"""This CPU as /proc/cpuinfo describes it, for the line benchmarks print."""

from __future__ import annotations

from pathlib import Path

from jina_edge.engines.cpu import read_cpu

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model\t\t: 49
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx avx2 fma bmi2
"""
ARM = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU part\t: 0xd08

Model\t\t: Raspberry Pi 4 Model B Rev 1.5
"""


def test_an_x86_cpu_is_named_with_its_kernel_flags(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(X86)
    cpu = read_cpu(tmp_path / "cpuinfo")
    assert cpu.model == "AMD EPYC 7B12"
    assert cpu.flags == ("avx2",)  # no VNNI, no AVX-512: the class whose int8 saturates


def test_a_raspberry_pi_is_named_by_its_board(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(ARM)
    cpu = read_cpu(tmp_path / "cpuinfo")
    assert cpu.model == "Raspberry Pi 4 Model B Rev 1.5"
    assert cpu.flags == ()  # an A72: no dot product


def test_no_cpuinfo_still_names_the_machine(tmp_path: Path) -> None:
    cpu = read_cpu(tmp_path / "missing")
    assert cpu.model and cpu.machine and cpu.flags == ()
