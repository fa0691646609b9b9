/* ctl_usage: pgquorumctl's help texts, the general one and one per
 * command (see ctl_usage.h). */
#include "ctl_usage.h"

const char ctl_usage_main[] =
    "Usage: pgquorumctl [--monitors HOST:PORT[,HOST:PORT...]] COMMAND [ARGS]\n"
    "\n"
    "Query and steer a pgquorum cluster through any of its monitors.\n"
    "\n"
    "Commands:\n"
    "  status [--json] [--cluster NAME]     monitors, nodes, health, failover state\n"
    "  events [--json] [--cluster NAME] [--limit N]\n"
    "                                       the committed history\n"
    "  uri [--cluster NAME]                 libpq URI for applications (read-write)\n"
    "  node add NAME --conninfo STR [--priority N] [--cluster NAME]\n"
    "  node add --file FILE\n"
    "  node remove NAME [--cluster NAME]\n"
    "  cluster remove NAME                  stop monitoring a cluster and its nodes\n"
    "  maintenance on NAME [--allow-failover] [--cluster NAME]\n"
    "  maintenance off NAME [--cluster NAME]\n"
    "  pause [--cluster NAME]               stop every automatic failover step\n"
    "  resume [--cluster NAME]              start them again\n"
    "  switchover [--to NAME] [--at TIME] [--cluster NAME]\n"
    "                                       move the primary without losing a write\n"
    "  switchover --cancel [--cluster NAME] cancel one not begun yet\n"
    "  failover --allow-unfenced NAME [--cluster NAME]\n"
    "                                       allow a failover over a primary that\n"
    "                                       cannot be proven fenced (audited)\n"
    "  failover --allow-data-loss [--cluster NAME]\n"
    "                                       allow a failover that may lose writes\n"
    "                                       the synchronous rules protect (audited)\n"
    "  sync --mode off|quorum|strict [--number-sync N] [--cluster NAME]\n"
    "  sync --number-sync N [--cluster NAME]\n"
    "  sync --node NAME --replication-quorum true|false [--cluster NAME]\n"
    "                                       managed synchronous replication\n"
    "  role NAME viewer|operator|admin|none an identity's role (user:NAME or\n"
    "                                       node:CLUSTER/NAME; a bare NAME is user:NAME)\n"
    "  grant ACTION to NAME [on cluster C]  allow one action beyond its role\n"
    "  deny ACTION to NAME [on cluster C]   forbid it, whatever its role or grants\n"
    "  revoke ACTION from NAME [on cluster C]\n"
    "                                       remove a grant or a deny\n"
    "  monitor add ID RAFT_ADDRESS [API_ADDRESS]\n"
    "  monitor remove ID\n"
    "  monitor replace OLD_ID NEW_ID RAFT_ADDRESS [API_ADDRESS]\n"
    "                                       change the monitors' Raft voters, one\n"
    "                                       change at a time (admin)\n"
    "  whoami [--json]                      the identity the monitor sees, its role\n"
    "  token hash                           read a token on stdin, print the\n"
    "                                       sha256:HEX for [auth] tokens\n"
    "  debug failpoint NAME crash|fail|off [ARG]   (test builds; first monitor only)\n"
    "\n"
    "Options:\n"
    "  --monitors LIST   monitors' API addresses (default: $PGQUORUM_MONITORS)\n"
    "  --token-file FILE a bearer token, read from FILE (default:\n"
    "                    $PGQUORUM_TOKEN_FILE); never on the command line\n"
    "  --who NAME        events: only those of NAME's requests\n"
    "  --cluster NAME    PostgreSQL cluster (default: main; status and events:\n"
    "                    every cluster)\n"
    "  --timeout DUR     limit of one request to one monitor (default: 5s)\n"
    "  --wait DUR        writes: keep looking for a leader this long (default: 15s)\n"
    "  --json            machine-readable output (status, events)\n"
    "  --local           status, events: the first monitor's own state, even\n"
    "                    when it lags the leader (to see what it has applied)\n"
    "  --tls-ca FILE     CA of the monitors' certificates ($PGQUORUM_TLS_CA)\n"
    "  --tls-cert FILE   this operator's certificate ($PGQUORUM_TLS_CERT)\n"
    "  --tls-key FILE    its key ($PGQUORUM_TLS_KEY)\n"
    "  --plain           plain TCP, for monitors configured with tls = off\n"
    "  -h, --help        help (also after a command)\n"
    "  -V, --version     version\n"
    "\n"
    "Exit codes: 0 done, 1 refused or failed, 2 usage error, 3 no monitor reachable.\n";

const struct ctl_usage ctl_usage_cmds[] = {
    {"status",
     "Usage: pgquorumctl status [--json] [--cluster NAME]\n"
     "Show the monitors (id, address, Raft role, term, commit and applied index,\n"
     "reachable) and the nodes (role, health verdict with each monitor's view,\n"
     "timeline, LSN, lag, cache and index hit rate, last observation).\n"},
    {"events",
     "Usage: pgquorumctl events [--json] [--cluster NAME] [--limit N]\n"
     "Show the committed history: verdicts, failover decisions and steps with\n"
     "their durations, and why a failover was not done.\n"},
    {"uri",
     "Usage: pgquorumctl uri [--cluster NAME]\n"
     "Print a libpq multi-host URI with target_session_attrs=read-write, primary\n"
     "first, for applications.\n"},
    {"node",
     "Usage: pgquorumctl node add NAME --conninfo STR [--priority N] [--cluster NAME]\n"
     "       pgquorumctl node add --file FILE\n"
     "       pgquorumctl node remove NAME [--cluster NAME]\n"
     "Register a PostgreSQL node (conninfo: how monitors reach it, without a\n"
     "password; priority 0..100, 0 = never promote, default 50), or remove one.\n"
     "--file registers many (FILE or - for stdin), one per line:\n"
     "  cluster node priority conninfo...\n"
     "every line checked first, then in batches of up to 5000 per Raft entry.\n"
     "A cluster whose last node is removed is removed with it.\n"},
    {"cluster",
     "Usage: pgquorumctl cluster remove NAME\n"
     "Stop monitoring cluster NAME: it is removed with all its nodes and its\n"
     "history (PostgreSQL is not touched). Refused while a failover, cut or\n"
     "switchover of it is in progress. Stop its node agents first: an agent\n"
     "whose node is unknown registers it again. A cluster registered again under\n"
     "the name starts clean, its epochs above the old ones. Recorded in the\n"
     "events with who asked (admin role, as node remove).\n"},
    {"monitor",
     "Usage: pgquorumctl monitor add ID RAFT_ADDRESS [API_ADDRESS]\n"
     "       pgquorumctl monitor remove ID\n"
     "       pgquorumctl monitor replace OLD_ID NEW_ID RAFT_ADDRESS [API_ADDRESS]\n"
     "Change the voters of the monitors' Raft group online, through the leader,\n"
     "one change at a time (an admin's request; each step is an event).\n"
     "add: monitor ID (started with [monitor] join = on and an empty data_dir)\n"
     "joins without a vote, catches up as a standby, then votes. remove: the\n"
     "monitor leaves; the leader hands leadership over first when it is the one\n"
     "removed. replace: add NEW_ID as above, then remove OLD_ID (a dead monitor\n"
     "is replaced this way: use a new id and a new data_dir). The command returns\n"
     "once the change is done (--timeout, default 2m). Should it stop half-way\n"
     "(the leader died, the new monitor did not catch up), status shows where,\n"
     "and running the same command again continues it. A monitor that is not a\n"
     "voter must be finished or removed before any other change; the voters that\n"
     "answer must stay a majority; at most 9 monitors.\n"},
    {"maintenance",
     "Usage: pgquorumctl maintenance on NAME [--allow-failover] [--cluster NAME]\n"
     "       pgquorumctl maintenance off NAME [--cluster NAME]\n"
     "A node in maintenance is never promoted; a primary in maintenance is not\n"
     "failed over, unless --allow-failover is given (the primary only): then it\n"
     "is failed over as usual should it go down by verdict.\n"},
    {"pause",
     "Usage: pgquorumctl pause [--cluster NAME]\n"
     "Pause the cluster (default main): no automatic failover starts or moves on:\n"
     "no cut, no decision, no repoint. Observations, verdicts, agent reports and\n"
     "leases go on, and status and events show it; a failover already decided is\n"
     "carried through. Recorded in the events with who paused it.\n"},
    {"resume",
     "Usage: pgquorumctl resume [--cluster NAME]\n"
     "End a pause: automatic actions start again, and failover_timeout counts from\n"
     "now for a primary that is down.\n"},
    {"switchover",
     "Usage: pgquorumctl switchover [--to NAME] [--at TIME] [--cluster NAME]\n"
     "       pgquorumctl switchover --cancel [--cluster NAME]\n"
     "Move the primary to the standby NAME (default: the most advanced eligible\n"
     "one) without losing an acknowledged write: at TIME (+30s, +5m, +1h from now,\n"
     "or 2026-12-02T05:30:00Z; default now), the primary's node agent stops it\n"
     "cleanly, the target is promoted only once it holds the primary's final WAL\n"
     "position, the other standbys follow it and the old primary rejoins as a\n"
     "standby. The request is committed: it survives leader changes. If the\n"
     "target falls short, nothing is promoted and the primary starts again.\n"
     "--cancel withdraws it until the primary has stopped.\n"},
    {"failover",
     "Usage: pgquorumctl failover --allow-unfenced NAME [--cluster NAME]\n"
     "       pgquorumctl failover --allow-data-loss [--cluster NAME]\n"
     "--allow-unfenced: the primary NAME vanished after its node agent fell silent\n"
     "while it ran: nothing proves it stopped taking writes, so the quorum does not\n"
     "promote over it. This allows it, for the current epoch; writes it acknowledged\n"
     "since may be lost.\n"
     "--allow-data-loss: no standby is known to hold every write the synchronous\n"
     "set made the primary wait for (status says FAILOVER BLOCKED and why). This\n"
     "lets the failover of the current primary choose among the standbys anyway\n"
     "(the most advanced one, within max_lag_on_failover); acknowledged writes may\n"
     "be lost. Both are recorded in the events with who allowed it.\n"},
    {"sync",
     "Usage: pgquorumctl sync --mode off|quorum|strict [--number-sync N] [--cluster NAME]\n"
     "       pgquorumctl sync --number-sync N [--cluster NAME]\n"
     "       pgquorumctl sync --node NAME --replication-quorum true|false [--cluster NAME]\n"
     "Managed synchronous replication: the quorum writes synchronous_standby_names\n"
     "on the primary from the healthy standbys whose replication quorum is true.\n"
     "  quorum  ANY N of them; fewer healthy lowers N, none empties it: writes go on\n"
     "  strict  FIRST N of exactly N of them, a dead one replaced by a healthy one\n"
     "          and kept when there is none: writes wait rather than go on unprotected\n"
     "  off     not managed (an empty setting is written once if it was)\n"
     "N is 1..8 (default 1). A failover promotes only a standby of the last set\n"
     "committed that provably holds every acknowledged write. status --json shows\n"
     "the set committed, whether the primary applied it, and what it runs.\n"},
    {"role",
     "Usage: pgquorumctl role NAME viewer|operator|admin|none\n"
     "Set the role of an identity (user:NAME, node:CLUSTER/NAME; a bare NAME is\n"
     "user:NAME) on every monitor: viewer (status, events, whoami), operator (viewer\n"
     "+ maintenance, switchover, pause, resume, sync, cluster remove), admin\n"
     "(everything). none\n"
     "removes it: it may then do only what it is granted. Needs the role action.\n"},
    {"grant",
     "Usage: pgquorumctl grant ACTION to NAME [on cluster CLUSTER]\n"
     "Allow NAME one action beyond its role, on every cluster or one. Actions:\n"
     "status, events, whoami, node-add, node-remove, maintenance, switchover, pause,\n"
     "sync, allow-unfenced, allow-data-loss, role, grant, failpoint, cluster-remove.\n"},
    {"deny",
     "Usage: pgquorumctl deny ACTION to NAME [on cluster CLUSTER]\n"
     "Forbid NAME an action whatever its role and grants say ([auth] admins\n"
     "excepted: they cannot be locked out).\n"},
    {"revoke",
     "Usage: pgquorumctl revoke ACTION from NAME [on cluster CLUSTER]\n"
     "Remove a grant or a deny.\n"},
    {"whoami",
     "Usage: pgquorumctl whoami [--json]\n"
     "Print the identity the first monitor that answers sees (from the token or\n"
     "the client certificate), the address it sees it from, its role and grants.\n"},
    {"token",
     "Usage: pgquorumctl token hash < FILE\n"
     "Read a token (one line) on standard input and print sha256:HEX, for\n"
     "[auth] tokens = NAME:sha256:HEX on the monitors.\n"},
    {"debug",
     "Usage: pgquorumctl debug failpoint NAME crash|fail|off [ARG]\n"
     "Arm a failpoint on the first monitor of --monitors (builds configured with\n"
     "--enable-failpoints only).\n"},
};

const size_t ctl_n_usage_cmds = sizeof ctl_usage_cmds / sizeof ctl_usage_cmds[0];
