# bash completion for pkv(1): commands, their options, node names (-n: the
# nodes running in the dev run dir; --node and member: the daemon's nodes)
# and buckets (-b, drop: the daemon's buckets).

_pkv_run_dir()
{
	if [[ -n ${PKV_RUN_DIR-} ]]; then
		printf '%s\n' "$PKV_RUN_DIR"
	elif [[ -n ${XDG_RUNTIME_DIR-} ]]; then
		printf '%s\n' "$XDG_RUNTIME_DIR/paxoskv"
	else
		printf '%s\n' "/tmp/paxoskv-$(id -u)"
	fi
}

# Nodes with a control socket in the run dir.
_pkv_run_dir_nodes()
{
	local dir s
	dir=$(_pkv_run_dir)
	for s in "$dir"/*/pkvd.sock; do
		[[ -S $s ]] || continue
		s=${s%/pkvd.sock}
		printf '%s\n' "${s##*/}"
	done
}

# The daemon's configured nodes and its buckets, asked through the same
# daemon the command line names (-n / -S given before the command).
_pkv_daemon_nodes()
{
	"$1" "${@:2}" cluster 2>/dev/null | sed -n 's/^nodes: //p'
}

_pkv_daemon_buckets()
{
	"$1" "${@:2}" buckets 2>/dev/null
}

_pkv()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi

	local commands="put get hold release info keys pid node now cluster wait watch resize member
		buckets stats drop"
	local i cmd="" cmd_at=0 which=()
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-n | -S)
			which+=("${words[i]}" "${words[i + 1]}")
			((i++))
			;;
		-o) ((i++)) ;;
		-*) ;;
		*)
			cmd=${words[i]}
			cmd_at=$i
			break
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		case $prev in
		-n)
			COMPREPLY=($(compgen -W "$(_pkv_run_dir_nodes)" -- "$cur"))
			return
			;;
		-S)
			COMPREPLY=($(compgen -f -- "$cur"))
			return
			;;
		-o)
			COMPREPLY=($(compgen -W "json text" -- "$cur"))
			return
			;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-n -S -o -h --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	local pkv=${words[0]}
	case $prev in
	-b | --bucket)
		COMPREPLY=($(compgen -W "$(_pkv_daemon_buckets "$pkv" "${which[@]}")" -- "$cur"))
		return
		;;
	--node)
		COMPREPLY=($(compgen -W "$(_pkv_daemon_nodes "$pkv" "${which[@]}")" -- "$cur"))
		return
		;;
	--no-quorum)
		COMPREPLY=($(compgen -W "return retry fail" -- "$cur"))
		return
		;;
	--pid | --key | --until | --ttl | --timeout | --default | --doubt-signal | --from)
		return
		;;
	esac

	local put_opts="-b --pid --node --key --until --ttl --no-quorum --timeout"
	local opts=""
	case $cmd in
	put) opts=$put_opts ;;
	hold) opts="$put_opts --doubt-signal --wait" ;;
	watch) opts="-b --from --json" ;;
	release) opts="-b" ;;
	info) opts="-b --json --timeout" ;;
	get) opts="-b -g --default --stale --json" ;;
	pid | node) opts="-b --default" ;;
	keys) opts="-b -0 --json" ;;
	cluster) opts="--json" ;;
	stats) opts="--json --openmetrics --prometheus" ;;
	wait) opts="--timeout -b" ;;
	member)
		if ((cword == cmd_at + 1)); then
			COMPREPLY=($(compgen -W "list add remove" -- "$cur"))
		elif ((cword == cmd_at + 2)) && [[ $prev == add || $prev == remove ]]; then
			COMPREPLY=($(compgen -W "$(_pkv_daemon_nodes "$pkv" "${which[@]}")" -- "$cur"))
		fi
		return
		;;
	drop)
		COMPREPLY=($(compgen -W "$(_pkv_daemon_buckets "$pkv" "${which[@]}")" -- "$cur"))
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	fi
} &&
	complete -F _pkv pkv
