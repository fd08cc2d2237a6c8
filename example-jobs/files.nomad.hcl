# files.nomad.hcl — what a pot task can be handed besides its image: host
# folders mounted read-write and read-only (nullfs), a host file copied in,
# environment variables, /etc/hosts entries and pot attributes. The task
# prints what it sees, writes one line into the read-write folder, then
# waits until it is stopped.
#
# Prepare the host first (these are the defaults of the variables below):
#
#   mkdir -p /usr/local/etc/pot-example /usr/local/share/pot-example /var/db/pot-example
#   echo "listen = 0.0.0.0:8080" > /usr/local/etc/pot-example/app.conf
#   echo "shared, read-only" > /usr/local/share/pot-example/README
#
# and allow those host paths in the Nomad client's plugin block (the driver
# refuses any host path not under one of host_path_allow):
#
#   plugin "pot" {
#     config {
#       host_path_allow = ["/usr/local/etc/pot-example", "/usr/local/share/pot-example",
#                          "/var/db/pot-example"]
#     }
#   }
#
# then:
#
#   nomad job run files.nomad.hcl
#   nomad alloc logs <alloc>                   # the report below
#   cat /var/db/pot-example/runs.log           # written from inside the jail
#   pot get-attribute -p <pot> -A procfs       # YES (pot ls: the pot's name)
#   nomad job stop files
#
# The script uses paths relative to the jail's root (usr/local/etc/app.conf,
# not /usr/local/etc/app.conf): a jail's command starts in the jail's root
# folder, and under potsim, the Linux stand-in for pot that runs the
# end-to-end tests without chroot, in the pot's root folder — so this same
# file runs on both. The tests override image_url, image, tag and the three
# host paths.

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

variable "config_file" {
  description = "A host file copied into the jail as /usr/local/etc/app.conf."
  type        = string
  default     = "/usr/local/etc/pot-example/app.conf"
}

variable "shared_dir" {
  description = "A host folder mounted read-only at /mnt/shared."
  type        = string
  default     = "/usr/local/share/pot-example"
}

variable "data_dir" {
  description = "A host folder mounted read-write at /mnt/data."
  type        = string
  default     = "/var/db/pot-example"
}

job "files" {
  type = "service"

  group "files" {
    task "files" {
      driver = "pot"

      # The script below exits on SIGTERM. (A shell script started by pot
      # ignores SIGINT, Nomad's default kill_signal, as every background
      # job of sh does.)
      kill_signal = "SIGTERM"

      env {
        GREETING = "hello from the job's env block"
      }

      # Nomad renders templates into the task's local/ folder, which the
      # driver mounts at /local in the jail.
      template {
        data        = "rendered by Nomad for alloc {{ env \"NOMAD_ALLOC_ID\" }}\n"
        destination = "local/rendered.txt"
      }

      config {
        image        = var.image_url
        pot          = var.image
        tag          = var.tag
        network_mode = "inherit"

        # HOSTPATH:JAILPATH, both absolute.
        mount           = ["${var.data_dir}:/mnt/data"]
        mount_read_only = ["${var.shared_dir}:/mnt/shared"]
        copy            = ["${var.config_file}:/usr/local/etc/app.conf"]
        extra_hosts     = ["db.internal:10.0.0.5", "cache.internal:10.0.0.6"]

        # pot attributes, NAME:VALUE: procfs mounted in the jail (ps and top
        # work there); pot stop's grace before SIGKILL, in seconds.
        attributes = ["procfs:YES", "stop_timeout:5"]

        command = "/bin/sh"
        # Each of args reaches the program as exactly one argument (without
        # it, command and args are the jail's sh command line, as with the
        # bsdpot driver).
        exact_args = true
        # One sh command list (the driver refuses line breaks: pot keeps
        # the command in a line-based file). $NAME is expanded by the
        # jail's sh.
        args = ["-c", join("; ", [
          "echo \"env: GREETING=$GREETING\"",
          "echo \"env: NOMAD_TASK_DIR=$NOMAD_TASK_DIR\"",
          "echo \"template: $(cat local/rendered.txt)\"",
          "echo \"copy: usr/local/etc/app.conf: $(cat usr/local/etc/app.conf)\"",
          "echo \"mount_read_only: mnt/shared/README: $(cat mnt/shared/README)\"",
          "if (: > mnt/shared/probe) 2>/dev/null; then echo 'mount_read_only: mnt/shared is WRITABLE'; else echo 'mount_read_only: mnt/shared is read-only'; fi",
          "echo \"$NOMAD_ALLOC_ID\" >> mnt/data/runs.log && echo 'mount: appended to mnt/data/runs.log'",
          "echo \"extra_hosts: $(grep -h db.internal etc/hosts)\"",
          "echo \"extra_hosts: $(grep -h cache.internal etc/hosts)\"",
          "echo ready",
          "trap 'echo \"files: SIGTERM, exiting\"; exit 0' TERM",
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
