#[derive(clap::Args, Debug)]
pub struct Args {
    /// bash | zsh | fish | powershell | elvish
    shell: clap_complete::Shell,
}

pub fn run<C: clap::CommandFactory>(a: &Args) -> u8 {
    let mut cmd = C::command();
    let name = cmd.get_name().to_string();
    clap_complete::generate(a.shell, &mut cmd, name, &mut std::io::stdout());
    crate::exit::OK
}
