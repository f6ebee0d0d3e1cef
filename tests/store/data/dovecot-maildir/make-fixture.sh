#!/bin/sh
# Makes Maildir/ here with a private Dovecot 2.3 (Debian 12: dovecot-core),
# run by hand, not in CI; the result is committed. Needs root (Dovecot's
# master drops to the mail user, here nobody).
# Expected result (what test-maildir-store checks):
#   INBOX  UIDVALIDITY from dovecot-uidlist, UIDs 1 2 4 (3 expunged), N5
#          1: \Seen $Label1   2: \Answered \Flagged Project-X   4: none
#   Work (UID 1), Work/Q1 2024 (empty); subscriptions INBOX, Work
set -e
out=$(cd "$(dirname "$0")" && pwd)/Maildir
fx=$(mktemp -d)
chmod 777 "$fx"
mkdir "$fx/run"
cat > "$fx/dovecot.conf" <<CONF
log_path = /dev/stderr
ssl = no
protocols =
listen = 127.0.0.1
base_dir = $fx/run
state_dir = $fx/run
mail_location = maildir:$fx/Maildir
mail_uid = 65534
mail_gid = 65534
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$fx
}
passdb {
  driver = static
  args = nopassword=y
}
namespace inbox {
  inbox = yes
  separator = /
}
CONF
printf 'From: Bob <bob@example.org>\nTo: alice@example.org\nSubject: first\nDate: Mon, 2 Jan 2023 10:00:00 +0100\nMessage-ID: <first@example.org>\n\nHello from Dovecot.\n' > "$fx/m1"
printf 'From: Carol <carol@example.org>\nTo: alice@example.org\nSubject: second\nMessage-ID: <second@example.org>\n\nSecond message,\nwith two lines.\n' > "$fx/m2"
printf 'From: Dave <dave@example.org>\nTo: alice@example.org\nSubject: third\nMessage-ID: <third@example.org>\n\nThird.\n' > "$fx/m3"
dovecot -c "$fx/dovecot.conf"
trap 'doveadm -c "$fx/dovecot.conf" stop; rm -rf "$fx"' EXIT
D="doveadm -c $fx/dovecot.conf"
$D save -u alice -m INBOX < "$fx/m1"
$D save -u alice -m INBOX < "$fx/m2"
$D save -u alice -m INBOX < "$fx/m3"
$D mailbox create -u alice Work
$D mailbox create -u alice 'Work/Q1 2024'
$D save -u alice -m Work < "$fx/m2"
$D flags add -u alice '\Seen $Label1' mailbox INBOX uid 1
$D flags add -u alice '\Flagged \Answered Project-X' mailbox INBOX uid 2
$D flags add -u alice '\Seen \Deleted' mailbox INBOX uid 3
$D expunge -u alice mailbox INBOX uid 3
$D save -u alice -m INBOX < "$fx/m3"
$D mailbox subscribe -u alice INBOX Work
# Keep the Maildir and Dovecot's control files; its index files are caches.
rm -rf "$out"
cd "$fx/Maildir"
find . -type f ! -name 'dovecot.*' ! -name 'dovecot-uidvalidity*' | while read -r f; do
  mkdir -p "$out/$(dirname "$f")"
  cp "$f" "$out/$f"
done
