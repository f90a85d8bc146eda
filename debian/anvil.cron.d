# /etc/cron.d/anvil: re-sign and publish Anvil's CRL every hour, as the
# anvil user, once /etc/anvil/anvil.conf exists. Where systemd runs,
# anvil-crl.timer does it instead.
17 * * * * anvil [ ! -d /run/systemd/system ] && [ -r /etc/anvil/anvil.conf ] && /usr/bin/anvil-crl --quiet --config /etc/anvil/anvil.conf
