# stateful.nomad.hcl — a service that keeps its state in a volume that is a
# pot fscomp (example-jobs/stateful.volume.hcl): each start adds one to the
# count in the volume and prints it. Before each start the driver snapshots
# the volume (a task event names the snapshot), so every deploy has a
# restore point:
#
#   nomad volume create stateful.volume.hcl
#   nomad job run stateful.nomad.hcl           # count=1
#   nomad job stop stateful; nomad job run stateful.nomad.hcl   # count=2
#   nomad job stop stateful
#   nomad-pot-driver volume snapshots counter  # the restore points
#   nomad-pot-driver volume rollback counter nomad-...   # back to before a start
#   nomad job run stateful.nomad.hcl           # counts on from the restored state
#
# The script uses paths relative to the jail's root (data/count): a jail's
# command starts in its root folder (and so does potsim's, the Linux
# stand-in that runs the end-to-end tests). The tests override image_url,
# image and tag.

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

job "stateful" {
  type = "service"

  group "counter" {
    volume "counter" {
      type            = "host"
      source          = "counter"
      access_mode     = "single-node-writer"
      attachment_mode = "file-system"
    }

    # A failed start is a failed deploy here: no restart, no reschedule.
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "counter" {
      driver      = "pot"
      kill_signal = "SIGTERM"

      volume_mount {
        volume      = "counter"
        destination = "/data"
      }

      config {
        image        = var.image_url
        pot          = var.image
        tag          = var.tag
        network_mode = "inherit"
        command      = "/bin/sh"
        exact_args   = true
        args = ["-c", join("; ", [
          "n=$(cat data/count 2>/dev/null || echo 0)",
          "n=$((n + 1))",
          "echo $n > data/count",
          "echo count=$n",
          "trap 'exit 0' TERM",
          "while :; do sleep 3600 & wait $!; done",
        ])]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
