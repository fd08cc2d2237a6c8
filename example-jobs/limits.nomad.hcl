# limits.nomad.hcl — resource limits on pot jails: one reserved core,
# a memory reservation with a higher hard limit (oversubscription), a CPU cap
# and an extra rctl rule. Two tasks, because Nomad's `cores` and `cpu`
# exclude each other:
#
#   pinned  cores = 1, memory = 64, memory_max = 128, rctl { maxproc, openfiles }
#   capped  cpu = 250 with cpu_hard_limit = true, memory = 64
#
# What the driver asks of FreeBSD (NAME is the task's pot, JID its jail id):
#
#   pinned  rctl -a jail:NAME:memoryuse:devctl=67108864      (reservation: devd notice only)
#                   jail:NAME:memoryuse:deny=134217728       (hard limit: paged out above it)
#                   jail:NAME:memoryuse:log=134217728        (kernel log line at the hard limit)
#                   jail:NAME:pcpu:deny=100                  (cpu_hard_limit on one core's worth)
#                   jail:NAME:maxproc:deny=64 jail:NAME:openfiles:deny=1024
#           cpuset -l CORE -j JID                            (CORE: the core Nomad reserved)
#   capped  rctl -a jail:NAME:memoryuse:deny=67108864 jail:NAME:memoryuse:log=67108864
#                   jail:NAME:pcpu:deny=P                    (P = ceil(250 * 100 / hw.clockrate))
#   both    rctl -r jail:NAME                                (when Nomad destroys the task)
#
# Needs, on the FreeBSD client: kern.racct.enable=1 in /boot/loader.conf
# (else the tasks fail, saying so, unless the plugin config has
# limits_best_effort = true), and memory oversubscription enabled in the
# scheduler, or Nomad drops memory_max:
#
#   nomad operator scheduler set-config -memory-oversubscription=true
#   nomad job run limits.nomad.hcl
#   nomad alloc status -stats <alloc>      # RSS, Swap, CPU percent and ticks per task
#   rctl -l jail:<pot name>                # the rules above; `pot ls` shows the pot names
#   cpuset -g -j <jid>                     # the pinned task's one core
#
# On Linux (potsim) nothing enforces limits; point the plugin's rctl_bin and
# cpuset_bin at the recording stand-in (internal/recorder, linked as rctl
# and cpuset) and set NOMAD_POT_RECORDER_LOG in the agent's environment to
# see the calls, one JSON line each. Override image_url, image and tag as
# for batch.nomad.hcl.

variable "image_url" {
  description = "Base URL of the image server (pot prepare -U)."
  type        = string
  default     = "https://potluck.honeyguide.net/nginx-nomad"
}

variable "image" {
  description = "Image name (pot prepare -p)."
  type        = string
  default     = "nginx-nomad-amd64-13_1"
}

variable "tag" {
  description = "Image tag (pot prepare -t)."
  type        = string
  default     = "1.1.13"
}

locals {
  # A little CPU every second, forever: enough for the stats to show.
  busy = join("; ", [
    "echo \"limits: $NOMAD_TASK_NAME running in pot $_POT_NAME\"",
    "while :; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1; done",
  ])
}

job "limits" {
  type = "service"

  group "limits" {
    task "pinned" {
      driver = "pot"

      config {
        image          = var.image_url
        pot            = var.image
        tag            = var.tag
        network_mode   = "inherit"
        command        = "/bin/sh"
        # Each of args reaches the program as exactly one argument (without
        # it, command and args are the jail's sh command line, as with the
        # bsdpot driver).
        exact_args = true
        args           = ["-c", local.busy]
        cpu_hard_limit = true

        # More rctl resources, each denied above the amount; the plugin's
        # rctl_allow decides which a job may use.
        rctl {
          maxproc   = 64
          openfiles = 1024
        }
      }

      resources {
        cores      = 1
        memory     = 64
        memory_max = 128
      }
    }

    task "capped" {
      driver = "pot"

      config {
        image          = var.image_url
        pot            = var.image
        tag            = var.tag
        network_mode   = "inherit"
        command        = "/bin/sh"
        exact_args = true
        args           = ["-c", local.busy]
        cpu_hard_limit = true
      }

      resources {
        cpu    = 250
        memory = 64
      }
    }
  }
}
