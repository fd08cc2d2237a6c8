# batch.nomad.hcl — a batch job in a pot jail whose exit code is what Nomad
# reports. The task prints to stdout and stderr, then exits with
# `var.exit_code` (3: a failure, on purpose). Nothing retries it: the
# restart and reschedule blocks below turn that off, so the one run is
# what you see.
#
#   nomad job run batch.nomad.hcl
#   nomad job status batch                  # Status = dead, the allocation "failed"
#   nomad alloc status <alloc>              # Recent Events: "Terminated  Exit Code: 3"
#   nomad alloc logs <alloc>                # its stdout
#   nomad alloc logs -stderr <alloc>        # its stderr
#
# Set -var exit_code=0 for a run that succeeds (allocation "complete").
#
# The jail runs /bin/sh, which every FreeBSD image has; the default image
# is potluck's nginx image (any image will do). The script uses nothing
# but sh and uname, so the Linux end-to-end tests run this same file with
# potsim, overriding only image_url, image and tag.

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

variable "exit_code" {
  description = "The status the task exits with."
  type        = number
  default     = 3
}

job "batch" {
  type = "batch"

  # Nomad allows meta keys no sh can export: NOMAD_META_app.version is
  # left out of the jail (a task event names it); NOMAD_META_release
  # reaches it. The map form, `meta = {...}`, takes quoted keys.
  meta = {
    "app.version" = "1.2"
    release       = "r1"
  }

  group "batch" {
    # One run, reported as it ended: no restart, no rescheduling.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "report" {
      driver = "pot"

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
        # One line: pot keeps the command in a line-based file, so the
        # driver refuses line breaks; join() makes one sh command list.
        # $NAME is expanded by the jail's sh, from the environment pot and
        # Nomad give the jail; ${var.exit_code} is filled in by Nomad.
        args = ["-c", join("; ", [
          "echo \"batch: running in pot $_POT_NAME, alloc $NOMAD_ALLOC_ID, on $(uname -s)\"",
          "echo \"batch: release $NOMAD_META_release\"",
          "echo \"batch: something went wrong, exiting ${var.exit_code}\" >&2",
          "exit ${var.exit_code}",
        ])]
      }

      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
