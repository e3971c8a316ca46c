"""``anamnesis train``: make the questioning policy's data, and train adapters on it.

anamnesis train selfplay --cases N --out DIR          SFT rows and preference pairs, with a card
anamnesis train sft --data DIR|FILE --out DIR         a LoRA adapter by supervised fine-tuning
anamnesis train dpo --data DIR|FILE --sft-adapter DIR --out DIR
                                                      continue it by preference tuning (DPO)
anamnesis train adapter --out DIR                     all three, as the shipped adapter was made
Several GPUs: accelerate launch --config_file configs/accelerate/multi_gpu.yaml \\
    -m ui.cli.main train sft ...
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ui.cli.common import add_config_flags, config_from, friendly_errors

# The recipe for the adapter shipped as agent/adapters/smollm2-questioning, which `anamnesis
# train adapter` runs: 480 SFT examples and 192 preference pairs of 200 self-play cases, sized
# by the step times measured on the 2-core development CPU to fit SFT + DPO in about 45 min.
RECIPE_CASES = 200
SFT_RECIPE = ["--max-steps", "120", "--batch-size", "4", "--lr", "1e-3", "--lora-layers", "8"]
DPO_RECIPE = ["--max-steps", "48", "--batch-size", "4", "--lr", "2e-4", "--beta", "0.1"]
SUMMARY_FILE = "train_summary.json"  # training.sft.SUMMARY, without importing torch for --help


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", metavar="DIR|FILE", action="append", required=True, help="(repeatable)"
    )
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the adapter")
    p.add_argument("--model", metavar="NAME|PATH", help="base model (default: embedded)")
    p.add_argument("--epochs", type=float, help="passes over the data")
    p.add_argument("--max-steps", type=int, help="optimizer steps (overrides --epochs)")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--batch-size", type=int, help="examples per device per step")
    p.add_argument("--grad-accum", type=int, help="gradient accumulation steps")
    p.add_argument("--max-length", type=int, help="tokens per example (longer ones dropped)")
    p.add_argument("--seed", type=int, help="seed of the LoRA init and data order")
    p.add_argument("--save-steps", type=int, help="steps between resumable checkpoints")
    p.add_argument(
        "--base-dtype",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="frozen base weights' format (auto: bf16 where fast)",
    )
    p.add_argument("--bf16", action="store_true", default=None, help="bf16 mixed precision")
    p.add_argument(
        "--gradient-checkpointing", action="store_true", default=None, help="save memory"
    )
    p.add_argument("--resume", action="store_true", default=None, help="continue a run in --out")
    p.add_argument(
        "--keep-checkpoints", action="store_true", default=None, help="keep --out/checkpoints"
    )
    p.add_argument("--cpu", action="store_true", default=None, help="train on CPU even with CUDA")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anamnesis train",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    sub = p.add_subparsers(dest="action", required=True)
    sp = sub.add_parser("selfplay", help="self-play data from synthetic train-split cases")
    sp.add_argument("--cases", type=int, help="synthetic cases to consult")
    sp.add_argument("--out", metavar="DIR", required=True, help="dataset folder")
    sp.add_argument("--seed", type=int, help="seed of the cases and rejected replies")
    sp.add_argument("--pairs-per-turn", type=int, help="preference pairs per doctor turn")
    sp.add_argument("--max-questions", type=int, help="the planner's question budget")
    sp.add_argument(
        "--no-retrieval",
        action="store_true",
        help="no passages in the system prompt (no index needed)",
    )
    sft = sub.add_parser("sft", help="supervised fine-tuning of a LoRA adapter")
    _run_flags(sft)
    sft.add_argument("--lora-r", type=int, help="LoRA rank")
    sft.add_argument("--lora-alpha", type=int, help="LoRA alpha")
    sft.add_argument(
        "--lora-layers", type=int, help="LoRA on the last N decoder layers only (faster)"
    )
    dpo = sub.add_parser("dpo", help="preference tuning (DPO) of an SFT adapter")
    _run_flags(dpo)
    dpo.add_argument("--sft-adapter", metavar="DIR", required=True, help="the SFT adapter")
    dpo.add_argument("--beta", type=float, help="DPO beta")
    dpo.add_argument("--sft-weight", type=float, help="weight of an added NLL loss on chosen")
    ad = sub.add_parser("adapter", help="the shipped adapter's recipe: selfplay, sft, dpo")
    ad.add_argument("--out", metavar="DIR", required=True, help="folder for the final adapter")
    ad.add_argument(
        "--work", metavar="DIR", help="data and SFT adapter (default: DATA_FOLDER/runs/OUT-work)"
    )
    ad.add_argument("--cases", type=int, default=RECIPE_CASES, help="self-play cases")
    for s in sub.choices.values():
        add_config_flags(s)
    return p


def _given(args: argparse.Namespace, *names: str) -> dict:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


RUN_FIELDS = (
    "data",
    "out",
    "model",
    "epochs",
    "max_steps",
    "lr",
    "batch_size",
    "grad_accum",
    "max_length",
    "seed",
    "save_steps",
    "base_dtype",
    "bf16",
    "gradient_checkpointing",
    "resume",
    "keep_checkpoints",
    "cpu",
)


def _report(folder: Path) -> None:
    from accelerate import PartialState

    from training.sft import SUMMARY

    if not PartialState().is_main_process:  # under accelerate launch, one process reports
        return
    summary = json.loads((folder / SUMMARY).read_text())
    print(
        f"Adapter in {folder}: {summary['examples']} examples, {summary['steps']} steps, "
        f"loss {summary['train_loss']:.4f}, {summary['examples_per_second']:.2f} examples/s, "
        f"{summary['total_seconds']:.0f} s in all, {summary['adapter_bytes'] / 1e6:.1f} MB."
    )


def recipe(out: Path, work: Path, cases: int) -> list[list[str]]:
    """The shipped adapter's recipe: self-play data, SFT, then DPO (whose output is ``out``)."""
    data, sft = str(work / "selfplay"), str(work / "sft")
    return [
        ["selfplay", "--cases", str(cases), "--out", data],
        ["sft", "--data", data, "--out", sft, *SFT_RECIPE],
        ["dpo", "--data", data, "--sft-adapter", sft, "--out", str(out), *DPO_RECIPE],
    ]


def _done(step: list[str]) -> bool:
    """A pipeline step whose output is complete already (so a rerun goes on from there)."""
    out = Path(step[step.index("--out") + 1])
    return (out / ("card.json" if step[0] == "selfplay" else SUMMARY_FILE)).is_file()


def make_adapter(args: argparse.Namespace, command: str, runs: Path) -> int:
    out = Path(args.out)
    work = Path(args.work) if args.work else runs / f"{out.name}-work"
    passed = (["--config", args.config] if args.config else []) + [
        a for item in args.set for a in ("--set", item)
    ]
    for step in recipe(out, work, args.cases):
        folder = Path(step[step.index("--out") + 1])
        if step[0] != "dpo" and _done(step):
            print(f"Reusing {folder} ({step[0]} already done).")
            continue
        if step[0] != "selfplay" and any(folder.glob("checkpoints/checkpoint-*")):
            step = [*step, "--resume"]  # an interrupted run goes on from its last checkpoint
        print(f"$ {shlex.join(['anamnesis', 'train', *step])}", flush=True)
        code = run(step + passed, parent=command)
        if code:
            return code
    return 0


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return run(argv)


def run(argv: list[str], parent: str | None = None) -> int:
    args = parser().parse_args(argv)
    app = config_from(args)
    command = shlex.join(["anamnesis", "train", *argv])
    if parent:
        command = f"{parent}  (step: {command})"
    if args.action == "adapter":
        return make_adapter(args, command, app.runs_dir)
    if args.action == "selfplay":
        from agent.planner import PlannerConfig
        from training.selfplay import run_selfplay
        from training.trainconfig import SelfPlayConfig

        values = _given(args, "cases", "seed", "pairs_per_turn")
        if args.max_questions is not None:
            planner = SelfPlayConfig().planner.model_dump()
            values["planner"] = PlannerConfig(**{**planner, "max_questions": args.max_questions})
        values["retrieval"] = not args.no_retrieval
        counts = run_selfplay(SelfPlayConfig(**values), app, args.out, command=command)
        print(f"Self-play data in {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        return 0
    values = _given(args, *RUN_FIELDS)
    if args.action == "sft":
        from training.sft import run_sft
        from training.trainconfig import LoraSettings, SFTRunConfig

        lora = {"r": args.lora_r, "alpha": args.lora_alpha, "last_layers": args.lora_layers}
        lora = {k: v for k, v in lora.items() if v is not None}
        config = SFTRunConfig(**values, lora=LoraSettings(**lora))
        _report(run_sft(config, app, command=command))
        return 0
    from training.dpo import run_dpo
    from training.trainconfig import DPORunConfig

    values |= _given(args, "sft_adapter", "beta", "sft_weight")
    _report(run_dpo(DPORunConfig(**values), app, command=command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
