# kill-timeout.nomad.hcl — a task that ignores SIGTERM, to show how a pot
# task is stopped: kill_signal, kill_timeout, and pot's stop_timeout.
#
# When the task is stopped (nomad job stop, nomad alloc stop, an update):
#   1. Nomad has the driver send `kill_signal` (here SIGTERM; SIGINT if not
#      set) to the jail's main process (pot signal);
#   2. the task gets `kill_timeout` (here 5 s) to exit;
#   3. then the driver stops the jail (pot stop: SIGTERM to every process of
#      the jail, SIGKILL after the jail's `stop_timeout`, the pot attribute
#      set below; the driver sets 2 s if the job does not).
# This task traps SIGTERM, so it is killed (exit code 137, SIGKILL) some
# kill_timeout + stop_timeout after the stop:
#
#   nomad job run kill-timeout.nomad.hcl
#   nomad job stop kill-timeout
#   nomad alloc status <alloc>     # "Sent interrupt. Waiting 5s before force killing",
#                                  # then "Terminated  Exit Code: 137"
#   nomad alloc logs <alloc>       # "got SIGTERM, ignoring it" (twice: Nomad's, pot stop's)
#
# A well-behaved program exits on kill_signal instead, and the jail is gone
# at once. The script needs nothing but sh and sleep, so the Linux
# end-to-end tests run this same file with potsim, overriding only
# image_url, image and tag.

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

job "kill-timeout" {
  type = "service"

  group "stubborn" {
    task "stubborn" {
      driver = "pot"

      kill_signal  = "SIGTERM"
      kill_timeout = "5s"

      config {
        image        = var.image_url
        pot          = var.image
        tag          = var.tag
        network_mode = "inherit"
        command      = "/bin/sh"
        # One sh command list (the driver refuses line breaks: pot keeps
        # the command in a line-based file).
        args = ["-c", join("; ", [
          "trap 'echo \"got SIGTERM, ignoring it\"' TERM",
          "echo \"started; SIGTERM will be ignored\"",
          "while :; do sleep 1; done",
        ])]
        # pot stop's grace between its SIGTERM and SIGKILL, in seconds.
        attributes = ["stop_timeout:1"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
