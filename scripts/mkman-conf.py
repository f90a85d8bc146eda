#!/usr/bin/python3
"""mkman-conf.py SAMPLE > anvil.conf.5: the config man page from the sample
config's comments, so the two never disagree. Run by the maintainer after
editing etc/anvil.conf.sample; tests/integration/install.sh checks the
shipped page is current."""
import re
import sys

src = open(sys.argv[1]).read().split('\n')
out = ['.TH ANVIL.CONF 5 2026-11-23 "Anvil" "File Formats Manual"',
       '.SH NAME', 'anvil.conf \\- configuration of the Anvil ACME certificate authority',
       '.SH DESCRIPTION', 'One INI file, read by', '.BR anvil (8)', '(path from',
       '.BR ANVIL_CONFIG ),', '.BR anvil-admin (8)', 'and', '.BR anvil-crl (8)',
       '.RB ( \\-\\-config ).', 'Sections are written', '.BR [name] ,', 'keys',
       '.BR "key = value" .', 'A line starting with', '.B ;', 'or', '.BR # ,',
       'or such a character after a blank, begins a comment.',
       'An unknown section or key, a key given twice, or a bad value is refused with',
       '.IR file : line :', 'and what is wrong. Every key has the default shown below except',
       '.B base_url', 'and', '.BR data_dir ,', 'which are required.']
comments = []
section = None
for line in src:
    if line.startswith('[') and line.endswith(']'):
        section = line[1:-1]
        out += ['.SH SECTION [%s]' % section]
        comments = []
        continue
    if section is None:
        continue
    if line.startswith(';'):
        comments.append(line[1:].strip())
        continue
    m = re.match(r'(\w+) = ?(.*)$', line)
    if m:
        k, v = m.groups()
        if k in ('base_url', 'data_dir'):
            tag = ' (required)'
        elif v:
            tag = ' (default: %s)' % v.replace('\\', '\\\\')
        else:
            tag = ' (default: empty)'
        out += ['.TP', '.B %s' % k + tag]
        txt = ' '.join(comments).replace('\\', '\\\\')
        out += [('\\&' + txt) if txt.startswith(('.', "'")) else txt]
        comments = []
out += ['.SH EXAMPLE', '.nf', '[server]', 'base_url = https://acme.example.org/acme',
        'data_dir = /var/lib/anvil', '', '[issuance]',
        'crl_url = http://acme.example.org/crl/anvil.crl', '.fi',
        '.SH SEE ALSO', '.BR anvil (8),', '.BR anvil-admin (8),', '.BR anvil-crl (8)']
sys.stdout.write('\n'.join(out) + '\n')
