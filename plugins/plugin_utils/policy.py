"""Who may authorize which rollback where, as declared in inventories/<env>/policy.yml."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    NotAuthorizedError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import inventories_dir

if TYPE_CHECKING:
    from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.approvals import (
        VerifiedApproval,
    )

ESCALATION_LEVELS: tuple[str, ...] = ("L1", "L2", "L3", "L4")
POLICY_VERSION = 1
DEFAULT_APPROVAL_MAX_MINUTES = 240

# Names end up as ssh-keygen -I identities and in allowed_signers; keeping them to a plain
# alphabet means a name can never smuggle in a pattern ("*") or a second principal (",").
PRINCIPAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
ROLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_TOP_KEYS = frozenset(
    {
        "version",
        "roles",
        "escalation",
        "defaults",
        "rules",
        "approval_max_minutes",
        "guarded",
        "state_dir",
        "awx_requester",
    }
)
_RULE_KEYS = frozenset(
    {"roles", "approvers", "self_approval", "escalation", "notify", "break_glass"}
)
_BREAK_GLASS_KEYS = frozenset({"roles", "sign_off_minutes", "sign_off_roles"})
_MAX_APPROVERS = 10


@dataclass(frozen=True)
class BreakGlass:
    """Who may run alone in an emergency, and who must sign off afterwards, by when."""

    roles: tuple[str, ...]
    sign_off_minutes: int
    sign_off_roles: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """The approval requirement for one rollback type in one environment."""

    rollback_type: str
    roles: tuple[str, ...]
    approvers: int
    self_approval: bool = False
    escalation: str = "L1"
    notify: tuple[str, ...] = ()
    break_glass: BreakGlass | None = None


@dataclass(frozen=True)
class Policy:
    """An environment's roles, escalation ladder and one rule per rollback type."""

    environment: str
    source: str
    roles: Mapping[str, tuple[str, ...]]
    escalation: Mapping[str, tuple[str, ...]]
    rules: Mapping[str, Rule]
    approval_max_minutes: int = DEFAULT_APPROVAL_MAX_MINUTES
    # A guarded environment's hosts change only inside an authorized run, and its locks,
    # nonces, signers and audit log live in state_dir, which no caller can move.
    guarded: bool = False
    state_dir: str = ""
    # True where AWX launches the runs: the user AWX authenticated is a proven requester.
    awx_requester: bool = False

    def rule_for(self, rollback_type: str) -> Rule:
        check_rollback_type(rollback_type)
        return self.rules[rollback_type]

    def roles_of(self, person: str) -> tuple[str, ...]:
        return tuple(sorted(role for role, people in self.roles.items() if person in people))

    def people_with(self, roles: Iterable[str]) -> tuple[str, ...]:
        wanted = set(roles)
        return tuple(
            sorted({p for role, people in self.roles.items() if role in wanted for p in people})
        )

    def notify_roles(self, rule: Rule) -> tuple[str, ...]:
        """Every level up to the rule's is told, so an L3 rollback still reaches on-call (L1)."""
        top = ESCALATION_LEVELS.index(rule.escalation)
        roles: list[str] = []
        for level in ESCALATION_LEVELS[: top + 1]:
            roles.extend(self.escalation.get(level, ()))
        roles.extend(rule.notify)
        return tuple(dict.fromkeys(roles))


@dataclass(frozen=True)
class Request:
    """What the operator asked for; the requester is only a claim until a signature backs it."""

    environment: str
    rollback_type: str
    target: str
    requester: str
    break_glass: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Request:
        unknown = set(data) - {"environment", "rollback_type", "target", "requester", "break_glass"}
        if unknown:
            raise UsageError(f"request: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            request = cls(
                environment=str(data["environment"]),
                rollback_type=str(data["rollback_type"]),
                target=str(data["target"]),
                requester=str(data["requester"]),
                break_glass=bool(data.get("break_glass", False)),
            )
        except KeyError as exc:
            raise UsageError(f"request: missing field {exc.args[0]}") from None
        check_rollback_type(request.rollback_type)
        return request

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "rollback_type": self.rollback_type,
            "target": self.target,
            "requester": self.requester,
            "break_glass": self.break_glass,
        }


@dataclass(frozen=True)
class Decision:
    """The policy's verdict with everything needed to explain, audit and act on it."""

    allowed: bool
    reason: str
    request: Request
    required: int = 0
    approvals: tuple[VerifiedApproval, ...] = ()
    escalation: str = "L1"
    notify: tuple[str, ...] = ()
    notify_roles: tuple[str, ...] = ()
    break_glass: bool = False
    sign_off_due: datetime | None = None
    sign_off_roles: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(a.payload.approver for a in self.approvals)

    @property
    def nonces(self) -> tuple[str, ...]:
        """The approvals this decision relied on; consume them once the run really starts."""
        return tuple(a.payload.nonce for a in self.approvals)

    def raise_if_refused(self) -> None:
        if not self.allowed:
            raise NotAuthorizedError(self.reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "request": self.request.to_dict(),
            "required": self.required,
            "approvers": list(self.approvers),
            "approvals": [a.to_dict() for a in self.approvals],
            "escalation": self.escalation,
            "notify": list(self.notify),
            "notify_roles": list(self.notify_roles),
            "break_glass": self.break_glass,
            "sign_off_due": _iso(self.sign_off_due) if self.sign_off_due else None,
            "sign_off_roles": list(self.sign_off_roles),
            "notes": list(self.notes),
        }


def rollback_types() -> tuple[str, ...]:
    """The rollback types a policy rules on: the policy keys of the collection's registry."""
    return registry.policy_keys()


def check_rollback_type(rollback_type: str) -> None:
    known = rollback_types()
    if rollback_type not in known:
        raise UsageError(f"unknown rollback type {rollback_type!r}; choose from {', '.join(known)}")


def policy_path(environment: str) -> Path:
    return inventories_dir() / environment / "policy.yml"


def load_environment_policy(environment: str) -> Policy:
    """The policy of inventories/<environment>/; a missing file refuses, it never allows."""
    path = policy_path(environment)
    if not path.is_file():
        raise UsageError(
            f"{path}: no policy for environment {environment!r}",
            hint="every environment needs a policy.yml; copy inventories/sandbox/policy.yml",
        )
    return load_policy(path)


def load_policy(path: str | Path, environment: str | None = None) -> Policy:
    """Load and strictly validate a policy file; the environment defaults to its folder's name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read policy: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else "(top)"
        problem = exc.problem or exc.context or "parse error"
        raise UsageError(f"{path}: {where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: (top): not valid YAML: {_one_line(str(exc))}") from None
    return policy_from_dict(data, source=str(path), environment=environment or path.parent.name)


def policy_from_dict(data: object, *, source: str, environment: str) -> Policy:
    """Validate plain data (as the Ansible action plugin may hold it) into a Policy."""
    return _Parser(source).policy(data, environment)


class _StrictLoader(yaml.SafeLoader):
    """Refuses duplicate keys: YAML keeps the last one silently, which could weaken a rule."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_mapping(node))


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


class _Parser:
    """Turns untrusted data into a Policy, naming file and field in every complaint."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> UsageError:
        return UsageError(f"{self.source}: {where}: {message}")

    def mapping(self, value: object, where: str, allowed: frozenset[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(where, f"keys must be strings, got {key!r}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(
                f"{where}.{unknown[0]}" if where else unknown[0],
                f"unknown key (expected one of {', '.join(sorted(allowed))})",
            )
        return value

    def integer(self, value: object, where: str, low: int, high: int) -> int:
        # bool is an int in Python; "approvers: yes" must not silently mean 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be an integer, got {_kind(value)} {value!r}")
        if not low <= value <= high:
            raise self.fail(where, f"must be between {low} and {high}, got {value}")
        return value

    def boolean(self, value: object, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {_kind(value)} {value!r}")
        return value

    def names(self, value: object, where: str, pattern: re.Pattern[str], what: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list of {what}s, got {_kind(value)}")
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not pattern.match(item):
                raise self.fail(f"{where}[{i}]", f"not a valid {what}: {item!r}")
            if item in out:
                raise self.fail(f"{where}[{i}]", f"{what} {item!r} listed twice")
            out.append(item)
        return out

    def role_refs(self, value: object, where: str, known: Mapping[str, object]) -> tuple[str, ...]:
        roles = self.names(value, where, ROLE_RE, "role name")
        for i, role in enumerate(roles):
            if role not in known:
                defined = ", ".join(sorted(known)) or "none"
                raise self.fail(f"{where}[{i}]", f"unknown role {role!r} (defined: {defined})")
        return tuple(roles)

    def policy(self, data: object, environment: str) -> Policy:
        if data is None:
            raise self.fail("(top)", "file is empty")
        top = self.mapping(data, "", _TOP_KEYS)
        if "version" not in top:
            raise self.fail("version", f"required (use version: {POLICY_VERSION})")
        version = self.integer(top["version"], "version", 1, 1_000)
        if version != POLICY_VERSION:
            raise self.fail("version", f"unsupported version {version}; expected {POLICY_VERSION}")

        roles = self.roles(top.get("roles", {}))
        escalation = self.escalation(top.get("escalation", {}), roles)
        max_minutes = DEFAULT_APPROVAL_MAX_MINUTES
        if "approval_max_minutes" in top:
            max_minutes = self.integer(
                top["approval_max_minutes"], "approval_max_minutes", 1, 7 * 24 * 60
            )

        defaults: dict[str, Any] = {}
        if "defaults" in top:
            defaults = self.mapping(top["defaults"], "defaults", _RULE_KEYS)
        known = rollback_types()
        raw_rules = self.mapping(top.get("rules", {}), "rules", frozenset(known))
        if "defaults" not in top:
            missing = [t for t in known if t not in raw_rules]
            if missing:
                raise self.fail(
                    "rules",
                    f"no rule for {', '.join(missing)} and no defaults to fall back on",
                )

        rules: dict[str, Rule] = {}
        for rollback_type in known:
            where = f"rules.{rollback_type}" if rollback_type in raw_rules else "defaults"
            own: dict[str, Any] = {}
            if rollback_type in raw_rules:
                own = self.mapping(raw_rules[rollback_type], where, _RULE_KEYS)
            rules[rollback_type] = self.rule(rollback_type, defaults, own, where, roles)

        guarded = self.boolean(top.get("guarded", False), "guarded")
        state = top.get("state_dir", "")
        if guarded and not (isinstance(state, str) and state.strip()):
            raise self.fail("state_dir", "required for a guarded environment (a path)")
        if not guarded and state:
            raise self.fail("state_dir", "only a guarded environment names its state dir")
        return Policy(
            environment=environment,
            source=self.source,
            roles=roles,
            escalation=escalation,
            rules=rules,
            approval_max_minutes=max_minutes,
            guarded=guarded,
            state_dir=str(state).strip(),
            awx_requester=self.boolean(top.get("awx_requester", False), "awx_requester"),
        )

    def roles(self, value: object) -> dict[str, tuple[str, ...]]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail("roles", f"must be a mapping of role to people, got {_kind(value)}")
        roles: dict[str, tuple[str, ...]] = {}
        for role, people in value.items():
            if not isinstance(role, str) or not ROLE_RE.match(role):
                raise self.fail(f"roles.{role}", "role names are lower_snake_case")
            roles[role] = tuple(self.names(people, f"roles.{role}", PRINCIPAL_RE, "person"))
        return roles

    def escalation(
        self, value: object, roles: Mapping[str, tuple[str, ...]]
    ) -> dict[str, tuple[str, ...]]:
        if value is None:
            return {}
        levels = self.mapping(value, "escalation", frozenset(ESCALATION_LEVELS))
        return {
            level: self.role_refs(levels[level], f"escalation.{level}", roles)
            for level in ESCALATION_LEVELS
            if level in levels
        }

    def rule(
        self,
        rollback_type: str,
        defaults: Mapping[str, Any],
        own: Mapping[str, Any],
        where: str,
        roles: Mapping[str, tuple[str, ...]],
    ) -> Rule:
        def pick(key: str) -> tuple[object, str] | None:
            if key in own:
                return own[key], f"{where}.{key}"
            if key in defaults:
                return defaults[key], f"defaults.{key}"
            return None

        # No built-in default for the count: a forgotten line must not become "no approval".
        count = pick("approvers")
        if count is None:
            raise self.fail(f"{where}.approvers", "required (here or under defaults)")
        approvers = self.integer(count[0], count[1], 0, _MAX_APPROVERS)

        allowed_roles: tuple[str, ...] = ()
        found = pick("roles")
        if found is not None:
            allowed_roles = self.role_refs(found[0], found[1], roles)
        if approvers > 0:
            if not allowed_roles:
                raise self.fail(
                    f"{where}.roles", f"{approvers} approver(s) needed but no role may approve"
                )
            eligible = {p for role in allowed_roles for p in roles[role]}
            if len(eligible) < approvers:
                raise self.fail(
                    count[1],
                    f"needs {approvers} distinct approvers but only {len(eligible)} "
                    f"{'person holds' if len(eligible) == 1 else 'people hold'} "
                    f"{'|'.join(allowed_roles)}",
                )

        self_approval = False
        found = pick("self_approval")
        if found is not None:
            self_approval = self.boolean(*found)

        escalation = "L1"
        found = pick("escalation")
        if found is not None:
            if found[0] not in ESCALATION_LEVELS:
                raise self.fail(
                    found[1], f"must be one of {', '.join(ESCALATION_LEVELS)}, got {found[0]!r}"
                )
            escalation = str(found[0])

        notify: tuple[str, ...] = ()
        found = pick("notify")
        if found is not None:
            notify = self.role_refs(found[0], found[1], roles)

        break_glass = None
        found = pick("break_glass")
        if found is not None and found[0] is not None:
            break_glass = self.break_glass(found[0], found[1], roles)

        return Rule(
            rollback_type=rollback_type,
            roles=allowed_roles,
            approvers=approvers,
            self_approval=self_approval,
            escalation=escalation,
            notify=notify,
            break_glass=break_glass,
        )

    def break_glass(
        self, value: object, where: str, roles: Mapping[str, tuple[str, ...]]
    ) -> BreakGlass:
        bg = self.mapping(value, where, _BREAK_GLASS_KEYS)
        for key in sorted(_BREAK_GLASS_KEYS):
            if key not in bg:
                raise self.fail(f"{where}.{key}", "required")
        bg_roles = self.role_refs(bg["roles"], f"{where}.roles", roles)
        sign_off_roles = self.role_refs(bg["sign_off_roles"], f"{where}.sign_off_roles", roles)
        if not bg_roles:
            raise self.fail(f"{where}.roles", "must name at least one role")
        if not sign_off_roles:
            raise self.fail(f"{where}.sign_off_roles", "must name at least one role")
        return BreakGlass(
            roles=bg_roles,
            sign_off_minutes=self.integer(
                bg["sign_off_minutes"], f"{where}.sign_off_minutes", 1, 7 * 24 * 60
            ),
            sign_off_roles=sign_off_roles,
        )


def evaluate(
    policy: Policy,
    request: Request,
    approvals: Sequence[VerifiedApproval],
    now: datetime,
    notes: Sequence[str] = (),
) -> Decision:
    """Decide whether the verified approvals authorize the request under the policy.

    Approvals are re-checked against the request and the clock here, not only when their
    signatures were verified, because time passes and callers may mix up lists. `notes` carries
    problems found earlier (an approval file that failed verification) into the explanation.
    """
    now = _utc(now)
    rule = policy.rule_for(request.rollback_type)
    label = f"{request.environment} {request.rollback_type} rollback"
    notify_roles = policy.notify_roles(rule)
    base: dict[str, Any] = {
        "request": request,
        "required": rule.approvers,
        "escalation": rule.escalation,
        "notify": policy.people_with(notify_roles),
        "notify_roles": notify_roles,
    }
    skipped = list(notes)

    if request.environment != policy.environment:
        return Decision(
            allowed=False,
            reason=f"{label} refused: the policy loaded is {policy.environment}'s "
            f"({policy.source})",
            notes=tuple(skipped),
            **base,
        )

    if rule.approvers == 0:
        return Decision(
            allowed=True, reason=f"{label} needs no approval", notes=tuple(skipped), **base
        )

    counted: dict[str, VerifiedApproval] = {}
    bound: list[VerifiedApproval] = []
    for approval in approvals:
        who = approval.payload.approver
        problem = _binding_problem(approval, request, policy, now)
        if problem:
            skipped.append(f"{who} ({problem})")
            continue
        bound.append(approval)
        if who == request.requester and not rule.self_approval:
            skipped.append(f"{who} (requester may not approve their own run)")
            continue
        held = policy.roles_of(who)
        if not set(held) & set(rule.roles):
            skipped.append(f"{who} (holds {'|'.join(held) or 'no role'}, not an approver role)")
            continue
        if who in counted:
            skipped.append(f"{who} (already counted; approvers must be distinct people)")
            continue
        counted[who] = approval

    names = ", ".join(f"{who} ({'|'.join(policy.roles_of(who))})" for who in counted)
    if len(counted) >= rule.approvers:
        return Decision(
            allowed=True,
            reason=f"{label} approved by {names}",
            approvals=tuple(counted.values()),
            notes=tuple(skipped),
            **base,
        )

    people = "approver" if rule.approvers == 1 else "distinct approvers"
    shortfall = (
        f"{label} needs {rule.approvers} {people} with role {'|'.join(rule.roles)}; "
        f"got {len(counted)} ({', '.join(counted) or 'none'})"
    )
    if skipped:
        shortfall += f"; not counted: {'; '.join(skipped)}"

    if not request.break_glass:
        return Decision(allowed=False, reason=shortfall, notes=tuple(skipped), **base)
    return _break_glass(policy, rule, request, bound, now, label, shortfall, skipped, base)


def _break_glass(
    policy: Policy,
    rule: Rule,
    request: Request,
    bound: Sequence[VerifiedApproval],
    now: datetime,
    label: str,
    shortfall: str,
    skipped: list[str],
    base: dict[str, Any],
) -> Decision:
    bg = rule.break_glass
    if bg is None:
        return Decision(
            allowed=False,
            reason=f"break-glass is not allowed for {label}s; {shortfall}",
            notes=tuple(skipped),
            **base,
        )
    # The requester's name alone proves nothing; their own signature is what lets them act alone.
    own = [a for a in bound if a.payload.approver == request.requester]
    if not own:
        return Decision(
            allowed=False,
            reason=f"{label}: break-glass needs {request.requester}'s own signed approval "
            "to prove who is acting; got none",
            notes=tuple(skipped),
            **base,
        )
    held = policy.roles_of(request.requester)
    if not set(held) & set(bg.roles):
        return Decision(
            allowed=False,
            reason=f"{label}: break-glass needs role {'|'.join(bg.roles)}; "
            f"{request.requester} holds {'|'.join(held) or 'no role'}",
            notes=tuple(skipped),
            **base,
        )
    # Acting alone is the point of break-glass, so the self-approval note would only confuse.
    kept = tuple(n for n in skipped if not n.startswith(f"{request.requester} (requester may"))
    due = now + timedelta(minutes=bg.sign_off_minutes)
    notify_roles = tuple(dict.fromkeys((*base["notify_roles"], *bg.sign_off_roles)))
    return Decision(
        allowed=True,
        reason=f"{label} allowed by break-glass for {request.requester} "
        f"({'|'.join(held)}); sign-off by {'|'.join(bg.sign_off_roles)} due by {_iso(due)}",
        request=request,
        required=rule.approvers,
        approvals=(own[0],),
        escalation=rule.escalation,
        notify=policy.people_with(notify_roles),
        notify_roles=notify_roles,
        break_glass=True,
        sign_off_due=due,
        sign_off_roles=bg.sign_off_roles,
        notes=kept,
    )


def evaluate_sign_off(
    policy: Policy, request: Request, approvals: Sequence[VerifiedApproval], now: datetime
) -> Decision:
    """Check the after-the-fact sign-off of a break-glass run: one signer holding a sign-off role.

    The sign-off is an ordinary signed approval for the same environment, type, target and
    requester; the requester cannot sign off their own emergency.
    """
    now = _utc(now)
    rule = policy.rule_for(request.rollback_type)
    label = f"{request.environment} {request.rollback_type} break-glass run"
    if rule.break_glass is None:
        return Decision(
            allowed=False, reason=f"{label}: policy has no break-glass rule", request=request
        )
    roles = rule.break_glass.sign_off_roles
    skipped: list[str] = []
    for approval in approvals:
        who = approval.payload.approver
        problem = _binding_problem(approval, request, policy, now)
        if problem is None and who == request.requester:
            problem = "requester may not sign off their own run"
        if problem is None and not set(policy.roles_of(who)) & set(roles):
            problem = f"holds {'|'.join(policy.roles_of(who)) or 'no role'}, not a sign-off role"
        if problem:
            skipped.append(f"{who} ({problem})")
            continue
        return Decision(
            allowed=True,
            reason=f"{label} signed off by {who} ({'|'.join(policy.roles_of(who))})",
            request=request,
            required=1,
            approvals=(approval,),
            sign_off_roles=roles,
            notes=tuple(skipped),
        )
    reason = f"{label} needs a sign-off from role {'|'.join(roles)}; got none"
    if skipped:
        reason += f"; not counted: {'; '.join(skipped)}"
    return Decision(
        allowed=False,
        reason=reason,
        request=request,
        required=1,
        sign_off_roles=roles,
        notes=tuple(skipped),
    )


def _binding_problem(
    approval: VerifiedApproval, request: Request, policy: Policy, now: datetime
) -> str | None:
    p = approval.payload
    for name in ("environment", "rollback_type", "target", "requester"):
        signed, wanted = getattr(p, name), getattr(request, name)
        if signed != wanted:
            return f"signed for {name.replace('_', ' ')} {signed}, not {wanted}"
    if p.expires_at <= now:
        return f"expired at {_iso(p.expires_at)}"
    validity = p.expires_at - p.issued_at
    if validity > timedelta(minutes=policy.approval_max_minutes):
        return (
            f"valid for {int(validity.total_seconds() // 60)} min; "
            f"policy allows at most {policy.approval_max_minutes}"
        )
    return None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timestamps must carry a timezone; use datetime.now(UTC)")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _kind(value: object) -> str:
    return {dict: "mapping", list: "list", str: "string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
