#!/usr/bin/env python3
"""Lists the longest Rust functions under a folder (test modules and tests.rs files skipped).

Usage: scripts/long-functions.py shared/src [count]. The house rule is ~60 lines a function.
"""
import re,sys,glob
res=[]
for p in glob.glob(sys.argv[1]+'/**/*.rs', recursive=True):
    if p.endswith('tests.rs') or '/tests/' in p: continue
    lines=open(p).read().split('\n')
    i=0
    while i < len(lines):
        l=lines[i]
        if re.match(r'\s*(pub(\([a-z]+\))?\s+)?mod tests\s*\{', l):
            depth=0
            while i < len(lines):
                depth+=lines[i].count('{')-lines[i].count('}')
                i+=1
                if depth==0: break
            continue
        m=re.match(r'\s*(pub(\([a-z]+\))?\s+)?(const\s+)?(async\s+)?fn\s+(\w+)', l)
        if m:
            j=i; depth=0; started=False
            while j < len(lines):
                for ch in lines[j]:
                    if ch=='{': depth+=1; started=True
                    elif ch=='}': depth-=1
                if started and depth==0: break
                if not started and lines[j].rstrip().endswith(';'): break
                j+=1
            if started: res.append((j-i+1, p, m.group(5), i+1))
            i=j+1; continue
        i+=1
res.sort(reverse=True)
for n,p,f,l in res[:int(sys.argv[2]) if len(sys.argv) > 2 else 10]:
    print(n,p+':'+str(l),f)
