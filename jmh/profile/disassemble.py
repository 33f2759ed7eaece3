#!/usr/bin/env python3
"""Disassemble what C2 compiled, on a JDK without hsdis (which prints the machine code as hex only).

    java --add-modules jdk.incubator.vector -XX:+UnlockDiagnosticVMOptions \\
        -XX:CompileCommand=print,dev.qkv.kernel.VectorKernels::dot ... > print.txt
    python3 jmh/profile/disassemble.py print.txt [TEXT]

Takes the last C2-compiled nmethod of the log (the last one whose header line contains TEXT, if given), turns its
[MachCode] hex back into bytes and runs objdump (binutils) on them, with HotSpot's annotations (calls, uncommon
traps, oops) put back before the instruction they name.
"""
import re
import subprocess
import sys
import tempfile


def main(log, which=None):
    text = open(log).read()
    blocks = text.split('============================= C2-compiled nmethod')[1:]
    blocks = [b for b in blocks if which is None or which in b.split('\n')[3]]
    if not blocks:
        sys.exit('no C2-compiled nmethod' + ('' if which is None else ' matching ' + which) + ' in ' + log)
    block = blocks[-1]
    print(block.split('\n')[3])
    code = block[block.index('[MachCode]'):block.index('[/MachCode]')]
    start, data, notes = None, bytearray(), {}
    for line in code.split('\n'):
        m = re.match(r'\s*0x([0-9a-f]+): (.*)$', line)
        if not m:
            continue
        address, rest = int(m.group(1), 16), m.group(2)
        if rest.startswith(';'):
            notes.setdefault(address, []).append(rest.strip())
            continue
        hexdigits = re.sub(r'[^0-9a-f]', '', rest.split(';')[0])
        if start is None:
            start = address
        data[address - start:address - start + len(hexdigits) // 2] = bytes.fromhex(hexdigits)
    with tempfile.NamedTemporaryFile(suffix='.bin') as f:
        f.write(data)
        f.flush()
        out = subprocess.run(['objdump', '-D', '-b', 'binary', '-mi386:x86-64', '--adjust-vma=%#x' % start, f.name],
                             capture_output=True, text=True, check=True).stdout
    for line in out.split('\n')[7:]:
        m = re.match(r'\s*([0-9a-f]+):', line)
        if m and int(m.group(1), 16) in notes:
            for note in notes[int(m.group(1), 16)]:
                print('                ', note)
        print(line)


if __name__ == '__main__':
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
