# kill-timeout.nomad.hcl — a task that ignores SIGTERM, to show how a pot
# task is stopped: kill_signal and kill_timeout, as with any Nomad driver.
#
# When the task is stopped (nomad job stop, nomad alloc stop, an update):
#   1. Nomad has the driver send `kill_signal` (here SIGTERM; the driver's
#      default is SIGTERM too) to the jail's main process (pot signal);
#   2. the task gets `kill_timeout` (here 5 s) to exit;
#   3. then the driver kills the jail: every process in it, at once (it sets
#      the pot's stop_timeout to 0 as soon as the signal is sent, so pot
#      stop removes the jail without asking again).
# This task traps SIGTERM, so it is killed (exit code 137, SIGKILL) some
# 5 s after the stop (the end-to-end tests hold it to 5.5 s):
#
#   nomad job run kill-timeout.nomad.hcl
#   nomad job stop kill-timeout
#   nomad alloc status <alloc>     # "Sent interrupt. Waiting 5s before force killing",
#                                  # then "Terminated  Exit Code: 137"
#   nomad alloc logs <alloc>       # "got SIGTERM, ignoring it" (once)
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
        # Each of args reaches the program as exactly one argument (without
        # it, command and args are the jail's sh command line, as with the
        # bsdpot driver).
        exact_args = true
        # One sh command list (the driver refuses line breaks: pot keeps
        # the command in a line-based file).
        args = ["-c", join("; ", [
          "trap 'echo \"got SIGTERM, ignoring it\"' TERM",
          "echo \"started; SIGTERM will be ignored\"",
          "while :; do sleep 1; done",
        ])]
        # pot stop's grace between its SIGTERM and SIGKILL, in seconds: for
        # the processes left when the main one exits by itself. A stop by
        # Nomad does not wait for it (kill_timeout is the grace there).
        attributes = ["stop_timeout:1"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
